import { useState } from "preact/hooks";
import { api, post, when } from "../api.ts";
import { useSession } from "../session.ts";
import { Field, LoadError, Notice, TextField, useAction, useLoad } from "../ui.tsx";

interface Session {
  id: string;
  created_at: string;
  expires_at: string;
  current: boolean;
}

export default function SettingsPage() {
  const { account } = useSession();
  return (
    <>
      {account?.email
        ? (
          <p>
            Signed in as <strong>{account.email}</strong>
            {account.login_methods?.length ? ` (${account.login_methods.join(", ")})` : ""}.
          </p>
        )
        : null}
      <ChangePassword passwordSet={account?.login_methods?.includes("password") ?? true} />
      <Sessions />
    </>
  );
}

function ChangePassword({ passwordSet }: { passwordSet: boolean }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      setDone(false);
      await post("/api/auth/password", {
        ...(passwordSet ? { current_password: current } : {}),
        new_password: next,
      });
      setCurrent("");
      setNext("");
      setDone(true);
    });
  };
  return (
    <section aria-labelledby="password-heading">
      <h2 id="password-heading">{passwordSet ? "Change password" : "Set a password"}</h2>
      <form class="card stack" onSubmit={submit}>
        {passwordSet
          ? (
            <TextField
              label="Current password"
              type="password"
              autocomplete="current-password"
              required
              maxLength={1024}
              value={current}
              onValue={setCurrent}
            />
          )
          : null}
        <Field
          label="New password"
          hint="At least 8 characters. Your other sessions are logged out."
        >
          {(props) => (
            <input
              {...props}
              type="password"
              autocomplete="new-password"
              required
              minLength={8}
              maxLength={1024}
              value={next}
              onInput={(e) => setNext(e.currentTarget.value)}
            />
          )}
        </Field>
        {error ? <Notice kind="error">{error}</Notice> : null}
        {done
          ? <Notice kind="success">Password changed. Other sessions were logged out.</Notice>
          : null}
        <p>
          <button type="submit" class="primary" disabled={busy}>Change password</button>
        </p>
      </form>
    </section>
  );
}

function Sessions() {
  const sessions = useLoad(() =>
    api<{ data: Session[] }>("GET", "/api/auth/sessions").then((b) => b.data)
  );
  const [message, setMessage] = useState<string | undefined>();
  const { busy, error, run } = useAction();
  const revokeOthers = () =>
    run(async () => {
      const result = await post<{ revoked: number }>("/api/auth/sessions/revoke-others");
      setMessage(`Logged out ${result.revoked} other session${result.revoked === 1 ? "" : "s"}.`);
      await sessions.reload();
    });
  const revoke = (id: string) =>
    run(async () => {
      await api("DELETE", `/api/auth/sessions/${encodeURIComponent(id)}`);
      setMessage("Session logged out.");
      await sessions.reload();
    });
  return (
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Sessions</h2>
      <LoadError error={sessions.error} what="your sessions" />
      {message ? <Notice kind="success">{message}</Notice> : null}
      {error ? <Notice kind="error">{error}</Notice> : null}
      {sessions.data
        ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Expires</th>
                <th scope="col">Session</th>
              </tr>
            </thead>
            <tbody>
              {sessions.data.map((session) => (
                <tr key={session.id}>
                  <td>{when(session.created_at)}</td>
                  <td>{when(session.expires_at)}</td>
                  <td>
                    {session.current
                      ? <strong>this browser</strong>
                      : (
                        <button type="button" disabled={busy} onClick={() => revoke(session.id)}>
                          Log out this session
                        </button>
                      )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
        : null}
      <p>
        <button type="button" disabled={busy} onClick={revokeOthers}>
          Log out other sessions
        </button>
      </p>
      <p class="muted">To end this session, use Log out at the top of the page.</p>
    </section>
  );
}
