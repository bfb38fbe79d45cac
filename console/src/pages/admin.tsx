import { useState } from "preact/hooks";
import { ApiFailure, get, messageOf } from "../api.ts";
import { Notice, TextField, useAction } from "../ui.tsx";
import { AdminAccounts } from "./admin-accounts.tsx";
import { AdminEvents, AdminProjections } from "./admin-events.tsx";

/**
 * The operator's key lives in this module's memory only: never in storage or a cookie, gone
 * on reload. It is sent as a bearer token, so these requests ignore the session cookie.
 */
let adminKey: string | undefined;

export default function AdminPage() {
  const [key, setKey] = useState(adminKey);
  if (!key) {
    return (
      <Unlock
        onUnlocked={(value) => {
          adminKey = value;
          setKey(value);
        }}
      />
    );
  }
  return (
    <>
      <p class="row">
        <span class="muted">Using the admin key held in this tab's memory.</span>
        <button
          type="button"
          onClick={() => {
            adminKey = undefined;
            setKey(undefined);
          }}
        >
          Forget admin key
        </button>
      </p>
      <AdminAccounts adminKey={key} />
      <AdminProjections adminKey={key} />
      <AdminEvents adminKey={key} />
      <section aria-labelledby="audit-heading">
        <h2 id="audit-heading">Audit</h2>
        <p>
          The ledger audit replays every account's ledger and compares it with the read models. It
          runs from the command line on the gateway's host:
        </p>
        <pre class="mono">npm run cli -- audit</pre>
      </section>
    </>
  );
}

function Unlock({ onUnlocked }: { onUnlocked: (key: string) => void }) {
  const [value, setValue] = useState("");
  const { busy, error, run } = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      try {
        await get("/admin/projections", { bearer: value });
      } catch (failure) {
        if (failure instanceof ApiFailure && (failure.status === 401 || failure.status === 403)) {
          throw new Error(`The gateway refused this key: ${messageOf(failure)}`);
        }
        throw failure;
      }
      onUnlocked(value);
    });
  };
  return (
    <form class="card stack narrow" onSubmit={submit}>
      <p>
        The admin pages use the gateway's{" "}
        <code>ADMIN_API_KEY</code>. It is kept in this tab's memory only and forgotten when you
        reload or close it.
      </p>
      <TextField
        label="Admin API key"
        type="password"
        autocomplete="off"
        required
        maxLength={1024}
        value={value}
        onValue={setValue}
      />
      {error ? <Notice kind="error">{error}</Notice> : null}
      <p>
        <button type="submit" class="primary" disabled={busy}>Unlock</button>
      </p>
    </form>
  );
}
