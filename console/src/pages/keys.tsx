import { useState } from "preact/hooks";
import { api, get, post, when } from "../api.ts";
import { LoadError, Notice, TextField, useAction, useLoad } from "../ui.tsx";
import { NewKey } from "./new-key.tsx";

const PERMISSIONS = ["read", "proxy", "manage"] as const;
const GRACE_PERIODS: Array<[seconds: number, label: string]> = [
  [3600, "1 hour"],
  [86400, "24 hours"],
  [604800, "7 days"],
];

interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  permissions: string[];
  created_at: string;
  last_used_at: string | null;
  expires_at?: string | null;
  previous_valid_until?: string | null;
}

export default function KeysPage() {
  const keys = useLoad(() => get<{ data: KeyRow[] }>("/api/keys").then((body) => body.data));
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ key: string; note: string } | undefined>();
  return (
    <>
      {secret ? <NewKey secret={secret.key} note={secret.note} /> : null}
      <p>
        <button
          type="button"
          class="primary"
          aria-expanded={creating}
          onClick={() => setCreating(!creating)}
        >
          Create API key
        </button>
      </p>
      {creating
        ? (
          <CreateKeyForm
            onCreated={(key, name) => {
              setCreating(false);
              setSecret({
                key,
                note: `The key "${name}". It is shown only now: store it somewhere safe.`,
              });
              keys.reload();
            }}
          />
        )
        : null}
      <LoadError error={keys.error} what="your API keys" />
      {keys.data?.length === 0 ? <p class="muted">No API keys yet.</p> : null}
      {keys.data?.length
        ? (
          <table>
            <caption>Your API keys (the secret is never shown again)</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Permissions</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((key) => (
                <KeyRowView
                  key={key.id}
                  row={key}
                  onChanged={() => keys.reload()}
                  onRotated={(newKey) => {
                    setSecret({
                      key: newKey,
                      note: `The new secret of "${key.name}". It is shown only now.`,
                    });
                    keys.reload();
                  }}
                />
              ))}
            </tbody>
          </table>
        )
        : null}
    </>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (key: string, name: string) => void }) {
  const [name, setName] = useState("");
  const [permissions, setPermissions] = useState<string[]>([...PERMISSIONS]);
  const [expires, setExpires] = useState("");
  const { busy, error, run } = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      if (permissions.length === 0) throw new Error("Choose at least one permission.");
      const body: Record<string, unknown> = { name, permissions };
      if (expires) {
        const at = new Date(expires);
        if (Number.isNaN(at.getTime()) || at.getTime() <= Date.now()) {
          throw new Error("The expiry must be a moment in the future.");
        }
        body.expires_at = at.toISOString();
      }
      const created = await post("/api/keys", body);
      onCreated(created.key, created.name);
    });
  };
  const toggle = (permission: string, on: boolean) =>
    setPermissions((current) =>
      on ? [...new Set([...current, permission])] : current.filter((p) => p !== permission)
    );
  return (
    <form class="card stack" onSubmit={submit} aria-label="Create API key">
      <TextField label="Name" required maxLength={100} value={name} onValue={setName} />
      <fieldset>
        <legend>Permissions</legend>
        {PERMISSIONS.map((permission) => (
          <label key={permission} class="check">
            <input
              type="checkbox"
              checked={permissions.includes(permission)}
              onChange={(event) => toggle(permission, event.currentTarget.checked)}
            />
            {permission}
          </label>
        ))}
      </fieldset>
      <TextField
        label="Expires (optional)"
        hint="Leave empty for a key that never expires."
        type="datetime-local"
        value={expires}
        onValue={setExpires}
      />
      {error ? <Notice kind="error">{error}</Notice> : null}
      <p>
        <button type="submit" class="primary" disabled={busy}>Create</button>
      </p>
    </form>
  );
}

function KeyRowView(
  { row, onChanged, onRotated }: {
    row: KeyRow;
    onChanged: () => void;
    onRotated: (key: string) => void;
  },
) {
  const [panel, setPanel] = useState<"rotate" | "revoke" | undefined>();
  const [grace, setGrace] = useState(0);
  const { busy, error, run } = useAction();
  const graceUntil = row.previous_valid_until && new Date(row.previous_valid_until) > new Date()
    ? row.previous_valid_until
    : undefined;
  const rotate = () =>
    run(async () => {
      const rotated = await post(`/api/keys/${encodeURIComponent(row.id)}/rotate`, {
        grace_period_s: grace,
      });
      setPanel(undefined);
      onRotated(rotated.key);
    });
  const revoke = () =>
    run(async () => {
      await api("DELETE", `/api/keys/${encodeURIComponent(row.id)}`);
      setPanel(undefined);
      onChanged();
    });
  return (
    <tr>
      <th scope="row">{row.name}</th>
      <td class="mono">{row.prefix}</td>
      <td>{row.permissions.join(", ")}</td>
      <td>{when(row.created_at)}</td>
      <td>{row.last_used_at ? when(row.last_used_at) : "never"}</td>
      <td>
        {row.expires_at ? when(row.expires_at) : "never"}
        {graceUntil ? <div class="muted">old secret works until {when(graceUntil)}</div> : null}
      </td>
      <td class="actions">
        <button type="button" onClick={() => setPanel(panel === "rotate" ? undefined : "rotate")}>
          Rotate
        </button>
        <button
          type="button"
          class="danger"
          onClick={() => setPanel(panel === "revoke" ? undefined : "revoke")}
        >
          Revoke
        </button>
        {panel === "rotate"
          ? (
            <fieldset class="panel">
              <legend>When should the old secret stop working?</legend>
              <label class="check">
                <input
                  type="radio"
                  name={`grace-${row.id}`}
                  checked={grace === 0}
                  onChange={() => setGrace(0)}
                />
                immediately
              </label>
              {GRACE_PERIODS.map(([seconds, label]) => (
                <label key={seconds} class="check">
                  <input
                    type="radio"
                    name={`grace-${row.id}`}
                    checked={grace === seconds}
                    onChange={() => setGrace(seconds)}
                  />
                  after {label}
                </label>
              ))}
              <div class="row">
                <button type="button" class="primary" disabled={busy} onClick={rotate}>
                  Confirm
                </button>
                <button type="button" onClick={() => setPanel(undefined)}>Cancel</button>
              </div>
            </fieldset>
          )
          : null}
        {panel === "revoke"
          ? (
            <div class="panel" role="group" aria-label={`Revoke ${row.name}`}>
              <p>Revoke "{row.name}"? Requests with it fail at once. This cannot be undone.</p>
              <div class="row">
                <button type="button" class="danger" disabled={busy} onClick={revoke}>
                  Confirm
                </button>
                <button type="button" onClick={() => setPanel(undefined)}>Cancel</button>
              </div>
            </div>
          )
          : null}
        {error ? <Notice kind="error">{error}</Notice> : null}
      </td>
    </tr>
  );
}
