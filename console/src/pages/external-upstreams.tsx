import { useState } from "preact/hooks";
import { api, post } from "../api.ts";
import { Notice, TextField, useAction } from "../ui.tsx";

/** An OpenAI-compatible server the account runs itself, reached with its own key. */
export function ExternalUpstreamForm(
  { onRegistered }: { onRegistered: (message: string) => void },
) {
  const [name, setName] = useState("");
  const [model, setModel] = useState("");
  const [baseUrl, setBaseUrl] = useState("");
  const [apiKey, setApiKey] = useState("");
  const { busy, error, run } = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      const body: Record<string, unknown> = {
        provider: "external",
        name,
        model,
        base_url: baseUrl,
      };
      if (apiKey) body.api_key = apiKey;
      const created = await post("/api/deployments", body);
      onRegistered(`Registered "${created.name}".`);
    });
  };
  return (
    <form class="card stack" onSubmit={submit} aria-label="Register an external upstream">
      <TextField
        label="Name"
        hint="What clients send as `model`."
        required
        maxLength={100}
        value={name}
        onValue={setName}
      />
      <TextField
        label="Model"
        hint="The model id the upstream expects."
        required
        maxLength={200}
        value={model}
        onValue={setModel}
      />
      <TextField
        label="Base URL"
        hint="e.g. https://api.example.com/v1"
        type="url"
        required
        maxLength={2048}
        value={baseUrl}
        onValue={setBaseUrl}
      />
      <TextField
        label="API key"
        hint="Optional; stored encrypted and never shown again."
        type="password"
        autocomplete="off"
        maxLength={4096}
        value={apiKey}
        onValue={setApiKey}
      />
      {error ? <Notice kind="error">{error}</Notice> : null}
      <p>
        <button type="submit" class="primary" disabled={busy}>Register</button>
      </p>
    </form>
  );
}

export function ReplaceKey(
  { deploymentId, onReplaced }: { deploymentId: string; onReplaced: () => void },
) {
  const [apiKey, setApiKey] = useState("");
  const { busy, error, run } = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      await api("PUT", `/api/deployments/${encodeURIComponent(deploymentId)}/api-key`, {
        body: { api_key: apiKey },
      });
      onReplaced();
    });
  };
  return (
    <form class="panel stack" onSubmit={submit} aria-label="Replace the upstream's API key">
      <TextField
        label="New API key"
        type="password"
        autocomplete="off"
        required
        maxLength={4096}
        value={apiKey}
        onValue={setApiKey}
      />
      {error ? <Notice kind="error">{error}</Notice> : null}
      <p>
        <button type="submit" disabled={busy}>Save key</button>
      </p>
    </form>
  );
}
