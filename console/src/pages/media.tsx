import { useEffect, useState } from "preact/hooks";
import { dollars, get, post } from "../api.ts";
import { Field, Notice, TextField, useAction } from "../ui.tsx";

type Kind = "image" | "audio" | "video";

/** The catalogue's defaults (README); any model id the gateway knows may be typed instead. */
const SUGGESTED: Record<Kind, string[]> = {
  image: ["flux-schnell", "flux-dev", "sdxl", "zimage"],
  audio: ["kokoro", "chatterbox"],
  video: ["wan-t2v"],
};

interface Result {
  kind: Kind;
  /**
   * The result's signed link (it needs no Authorization header, so `<img src>` works as a link
   * should); a data: or blob: URL only when the gateway gave no link.
   */
  src: string;
  cost?: number;
  model: string;
}

const POLL_MS = 2000;
const POLL_LIMIT_MS = 15 * 60_000;

function resultOf(kind: Kind, body: any): Result {
  const base = { kind, cost: body.cost, model: body.model };
  if (kind === "image") {
    const image = body.images?.[0];
    if (typeof image?.url === "string") return { ...base, src: image.url };
    if (!image?.base64) throw new Error("The job finished without an image.");
    const type = /\.jpe?g$/i.test(image.filename ?? "") ? "image/jpeg" : "image/png";
    return { ...base, src: `data:${type};base64,${image.base64}` };
  }
  if (kind === "audio") {
    if (typeof body.audio_url === "string") return { ...base, src: body.audio_url };
    if (!body.audio) throw new Error("The job finished without audio.");
    const bytes = Uint8Array.from(atob(body.audio), (c) => c.charCodeAt(0));
    return { ...base, src: URL.createObjectURL(new Blob([bytes], { type: "audio/wav" })) };
  }
  const video = body.videos?.[0];
  if (!video?.url) throw new Error("The job finished without a video.");
  return { ...base, src: video.url };
}

const finished = (status: unknown) =>
  typeof status === "string" &&
  ["completed", "failed", "cancelled", "timed_out"].includes(status.toLowerCase());

export function MediaPlayground({ kind }: { kind: Kind }) {
  const [model, setModel] = useState(SUGGESTED[kind][0]);
  const [prompt, setPrompt] = useState("");
  const [progress, setProgress] = useState<string | undefined>();
  const [result, setResult] = useState<Result | undefined>();
  const { busy, error, run } = useAction();
  useEffect(() => () => {
    if (result?.src.startsWith("blob:")) URL.revokeObjectURL(result.src);
  }, [result]);

  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      setResult(undefined);
      setProgress("Submitting…");
      try {
        const field = kind === "audio" ? "text" : "prompt";
        let body = await post(`/api/v1/generate/${kind}`, { model, [field]: prompt });
        const started = Date.now();
        // Cold starts and video answer `processing` with a poll URL on this gateway.
        while (body.poll_url && !finished(body.status)) {
          if (Date.now() - started > POLL_LIMIT_MS) {
            throw new Error("The job is still running; its result will be listed under Jobs.");
          }
          const job = body.job_id ?? body.id;
          setProgress(`Job ${job} is ${String(body.status ?? "processing").toLowerCase()}…`);
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          body = await get(body.poll_url);
        }
        const status = String(body.status ?? "completed").toLowerCase();
        if (status !== "completed") {
          throw new Error(body.error?.message ?? `The job ended ${status}.`);
        }
        setResult(resultOf(kind, body));
      } finally {
        setProgress(undefined);
      }
    });
  };

  const listId = `models-${kind}`;
  return (
    <section aria-labelledby="media-heading">
      <h2 id="media-heading">Generate {kind === "image" ? "an image" : kind}</h2>
      <form class="card stack" onSubmit={submit}>
        <TextField
          label="Model"
          list={listId}
          required
          maxLength={200}
          value={model}
          onValue={setModel}
        />
        <datalist id={listId}>
          {SUGGESTED[kind].map((id) => <option key={id} value={id} />)}
        </datalist>
        <Field label={kind === "audio" ? "Text" : "Prompt"}>
          {(props) => (
            <textarea
              {...props}
              rows={3}
              required
              maxLength={10000}
              value={prompt}
              onInput={(e) => setPrompt(e.currentTarget.value)}
            />
          )}
        </Field>
        {error ? <Notice kind="error">{error}</Notice> : null}
        {progress ? <Notice>{progress}</Notice> : null}
        <p>
          <button type="submit" class="primary" disabled={busy}>Generate</button>
        </p>
      </form>
      {result ? <ResultView result={result} prompt={prompt} /> : null}
    </section>
  );
}

function ResultView({ result, prompt }: { result: Result; prompt: string }) {
  return (
    <figure class="card result">
      {result.kind === "image"
        ? <img src={result.src} alt={`Generated image: ${prompt}`} />
        : result.kind === "audio"
        ? <audio controls src={result.src} aria-label="Generated audio" />
        : <video controls src={result.src} aria-label="Generated video" />}
      <figcaption>
        {result.model}, cost <strong>{dollars(result.cost)}</strong>
      </figcaption>
    </figure>
  );
}
