import { useState } from "preact/hooks";
import { get, post } from "../api.ts";
import { navigate, useLocation } from "../router.ts";
import { useSession } from "../session.ts";
import { Field, Notice, TextField, useAction, useLoad } from "../ui.tsx";

/** What `/login?error=<code>` means (the OAuth callback sends people back with one). */
const ERRORS: Record<string, string> = {
  oauth_denied: "The sign-in was cancelled at the provider.",
  oauth_state_invalid: "The sign-in took too long or was started in another tab. Please try again.",
  oauth_email_unverified: "The provider has no verified email address for this account.",
  oauth_provider_unavailable: "The provider could not be reached. Please try again later.",
  oauth_failed: "The provider could not complete the sign-in. Please try again.",
  email_taken: "An account with this email already exists; log in with its password.",
  account_conflict: "The account changed at the same moment. Please try again.",
  account_disabled: "This account is disabled. Contact the operator.",
  session_expired: "Your session ended. Please log in again.",
};

interface Provider {
  id: string;
  name: string;
}

/** Email and password, plus a button per configured provider. */
export function AuthForm({ mode }: { mode: "login" | "signup" }) {
  const { query } = useLocation();
  const { refresh } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useAction();
  const providers = useLoad(
    () => get<{ data: Provider[] }>("/api/auth/providers").then((body) => body.data),
  );
  const errorCode = query.get("error");
  const label = mode === "login" ? "Log in" : "Sign up";

  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      await post(`/api/auth/${mode}`, { email, password });
      await refresh();
      const next = query.get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/overview");
    });
  };

  return (
    <section class="narrow">
      {errorCode
        ? (
          <Notice kind="error">
            {ERRORS[errorCode] ?? `The sign-in did not complete (${errorCode}).`}
          </Notice>
        )
        : null}
      <form class="card stack" onSubmit={submit}>
        <TextField
          label="Email"
          type="email"
          autocomplete="email"
          required
          maxLength={254}
          value={email}
          onValue={setEmail}
        />
        <Field
          label="Password"
          hint={mode === "signup" ? "At least 8 characters." : undefined}
        >
          {(props) => (
            <input
              {...props}
              type="password"
              autocomplete={mode === "login" ? "current-password" : "new-password"}
              required
              minLength={mode === "signup" ? 8 : 1}
              maxLength={1024}
              value={password}
              onInput={(event) => setPassword(event.currentTarget.value)}
            />
          )}
        </Field>
        {error ? <Notice kind="error">{error}</Notice> : null}
        <button type="submit" class="primary" disabled={busy}>{label}</button>
      </form>
      {providers.data && providers.data.length > 0
        ? (
          <div class="card stack providers">
            {providers.data.map((provider) => (
              <a
                key={provider.id}
                class="button"
                href={`/api/auth/oauth/${encodeURIComponent(provider.id)}/start`}
              >
                Continue with {provider.name}
              </a>
            ))}
          </div>
        )
        : null}
      <p>
        {mode === "login"
          ? (
            <>
              No account yet? <a href="/signup">Create an account</a>.
            </>
          )
          : (
            <>
              Already registered? <a href="/login">Use your existing account</a>.
            </>
          )}
      </p>
    </section>
  );
}
