import { useRef, useState } from "preact/hooks";
import { get, messageOf, send } from "../api.ts";
import { readEventStream } from "../sse.ts";
import { Field, LoadError, Notice, useLoad } from "../ui.tsx";

interface Message {
  role: "user" | "assistant";
  content: string;
}

/** Chat with any model the account can reach, streamed as it is generated. */
export function ChatPlayground() {
  const models = useLoad(() => get("/v1/models").then((body) => body.data.map((m: any) => m.id)));
  const [model, setModel] = useState("");
  const [draft, setDraft] = useState("");
  const [messages, setMessages] = useState<Message[]>([]);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const abort = useRef<AbortController>();
  const chosen = model || models.data?.[0] || "";

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!draft.trim() || !chosen) return;
    const history: Message[] = [...messages, { role: "user", content: draft }];
    setMessages([...history, { role: "assistant", content: "" }]);
    setDraft("");
    setError(undefined);
    setStreaming(true);
    abort.current = new AbortController();
    let reply = "";
    try {
      const response = await send("POST", "/v1/chat/completions", {
        body: { model: chosen, messages: history, stream: true },
        signal: abort.current.signal,
      });
      await readEventStream(response, (chunk) => {
        if (chunk.error) throw new Error(chunk.error.message ?? "The stream failed.");
        const delta = chunk.choices?.[0]?.delta?.content;
        if (typeof delta === "string" && delta) {
          reply += delta;
          setMessages([...history, { role: "assistant", content: reply }]);
        }
      });
    } catch (failure) {
      if ((failure as Error).name !== "AbortError") setError(messageOf(failure));
      if (!reply) setMessages(history);
    } finally {
      setStreaming(false);
    }
  };

  return (
    <section aria-labelledby="chat-heading">
      <h2 id="chat-heading">Chat</h2>
      <LoadError error={models.error} what="your models" />
      {models.data?.length === 0
        ? (
          <Notice>
            No chat models yet: <a href="/deployments">deploy one</a> or register an upstream.
          </Notice>
        )
        : null}
      <ol class="chat" aria-live="polite">
        {messages.map((message, index) => (
          <li key={index} class={`message message-${message.role}`}>
            <span class="message-role">{message.role === "user" ? "You" : chosen}</span>
            <div class="message-text">{message.content || (streaming ? "…" : "")}</div>
          </li>
        ))}
      </ol>
      <form class="card stack" onSubmit={submit}>
        <Field label="Model">
          {(props) => (
            <select
              {...props}
              value={chosen}
              onChange={(e) => setModel(e.currentTarget.value)}
            >
              {(models.data ?? []).map((id: string) => <option key={id} value={id}>{id}</option>)}
            </select>
          )}
        </Field>
        <Field label="Message">
          {(props) => (
            <textarea
              {...props}
              rows={3}
              maxLength={100000}
              value={draft}
              onInput={(e) => setDraft(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                  e.currentTarget.form?.requestSubmit();
                }
              }}
            />
          )}
        </Field>
        {error ? <Notice kind="error">{error}</Notice> : null}
        <div class="row">
          <button type="submit" class="primary" disabled={streaming || !chosen}>Send</button>
          {streaming
            ? <button type="button" onClick={() => abort.current?.abort()}>Stop</button>
            : null}
          <button
            type="button"
            disabled={streaming || messages.length === 0}
            onClick={() => setMessages([])}
          >
            Clear
          </button>
        </div>
      </form>
    </section>
  );
}
