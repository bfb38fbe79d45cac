import { Buffer } from "node:buffer";
import { loadConfig } from "../../src/config/config.ts";
import { signUp } from "../support/accounts.ts";
import { freePort } from "../support/free-port.ts";
import { browse, CookieJar, locationOf, walkProvider } from "../support/oauth-browser.ts";
import { type OidcIssuer, reserveOidcIssuer } from "../support/oidc-issuer.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

// Sign-in through a real OpenID Connect issuer (oidc-provider) on loopback, configured both as
// the operator's issuer (OIDC_*) and as Google (GOOGLE_ISSUER pointed at it): discovery, PKCE,
// state, nonce and the ID token's signature are all checked by openid-client for real.

const OIDC = { clientId: "modelpilot-oidc", clientSecret: "oidc-client-secret-0123456789" };
const GOOGLE = { clientId: "modelpilot-google", clientSecret: "google-client-secret-0123456789" };

let issuer: OidcIssuer;
let gateway: TestApp;

beforeAll(async () => {
  issuer = await reserveOidcIssuer();
  gateway = await startTestApp({
    env: {
      OIDC_ISSUER: issuer.issuer,
      OIDC_CLIENT_ID: OIDC.clientId,
      OIDC_CLIENT_SECRET: OIDC.clientSecret,
      OIDC_NAME: "Acme SSO",
      GOOGLE_CLIENT_ID: GOOGLE.clientId,
      GOOGLE_CLIENT_SECRET: GOOGLE.clientSecret,
      GOOGLE_ISSUER: issuer.issuer,
    },
  });
  issuer.serve([
    { ...OIDC, redirectUri: `${gateway.url}/api/auth/oauth/oidc/callback` },
    { ...GOOGLE, redirectUri: `${gateway.url}/api/auth/oauth/google/callback` },
  ]);
});

afterAll(async () => {
  await gateway?.close();
  await issuer?.close();
});

/** Start at the gateway, sign in and consent at the issuer; answers the callback URL unvisited. */
async function throughIssuer(provider: "oidc" | "google", login: string) {
  const jar = new CookieJar();
  const start = await browse(jar, `${gateway.url}/api/auth/oauth/${provider}/start`);
  expect(start.status).toBe(302);
  const authorization = locationOf(start, gateway.url);
  const callback = await walkProvider(
    jar,
    authorization,
    gateway.url,
    ({ prompt }): Record<string, string> =>
      prompt === "login" ? { prompt: "login", login, password: "whatever" } : { prompt: "consent" },
  );
  return { jar, start, authorization, callback };
}

async function signIn(provider: "oidc" | "google", login: string) {
  const flow = await throughIssuer(provider, login);
  const done = await browse(flow.jar, flow.callback);
  return { ...flow, done, landing: locationOf(done, gateway.url) };
}

async function accountOf(jar: CookieJar) {
  return await api(gateway.url, "GET", "/api/account", {
    headers: { cookie: jar.header(gateway.url) },
  });
}

test("lists only the configured providers, the issuer under OIDC_NAME", async () => {
  const providers = await api(gateway.url, "GET", "/api/auth/providers");
  expect(providers.status).toBe(200);
  expect(providers.body).toEqual({
    data: [{ id: "google", name: "Google" }, { id: "oidc", name: "Acme SSO" }],
  });
});

test("a new user signs in: an account is registered and the session cookie works", async () => {
  issuer.users.set("ada", { email: "Ada@Example.com", email_verified: true });
  const { start, authorization, done, landing, jar } = await signIn("oidc", "ada");

  expect(authorization.origin).toBe(issuer.issuer);
  expect(authorization.searchParams.get("code_challenge_method")).toBe("S256");
  expect(authorization.searchParams.get("state")).toBeTruthy();
  expect(authorization.searchParams.get("nonce")).toBeTruthy();
  expect(authorization.searchParams.get("redirect_uri"))
    .toBe(`${gateway.url}/api/auth/oauth/oidc/callback`);
  const pending = start.headers.getSetCookie().find((cookie) => cookie.startsWith("mp_oauth="))!;
  expect(pending).toMatch(/HttpOnly/);
  expect(pending).toMatch(/SameSite=Lax/);
  expect(pending).toMatch(/Max-Age=600/);
  expect(pending).toMatch(/Path=\/api\/auth\/oauth/);

  expect(done.status).toBe(302);
  expect(landing.pathname).toBe("/overview");
  const session = done.headers.getSetCookie().find((cookie) => cookie.startsWith("mp_session="));
  expect(session).toMatch(/HttpOnly/);
  expect(session).toMatch(/SameSite=Lax/);
  expect(jar.get(gateway.url, "mp_oauth")).toBeUndefined();

  const account = await accountOf(jar);
  expect(account.status).toBe(200);
  expect(account.body.email).toBe("ada@example.com");
  expect(account.body.login_methods).toEqual(["oidc"]);

  const again = await signIn("oidc", "ada");
  expect(again.landing.pathname).toBe("/overview");
  expect((await accountOf(again.jar)).body.id).toBe(account.body.id);
});

test("a verified email of an existing password account links to that account", async () => {
  const existing = await signUp(gateway.url, "grace@example.com", "correct horse battery");
  issuer.users.set("grace", { email: "grace@example.com", email_verified: true });

  const { landing, jar } = await signIn("oidc", "grace");
  expect(landing.pathname).toBe("/overview");
  const account = await accountOf(jar);
  expect(account.body.id).toBe(existing.accountId);
  expect(account.body.login_methods).toEqual(["password", "oidc"]);

  // The password still works beside the linked login.
  const login = await api(gateway.url, "POST", "/api/auth/login", {
    body: { email: "grace@example.com", password: "correct horse battery" },
  });
  expect(login.status).toBe(200);
});

test("an unverified email is neither linked nor registered", async () => {
  const existing = await signUp(gateway.url, "mallory-target@example.com", "correct horse battery");
  issuer.users.set("mallory", { email: "mallory-target@example.com", email_verified: false });

  const { done, landing } = await signIn("oidc", "mallory");
  expect(landing.pathname).toBe("/login");
  expect(landing.searchParams.get("error")).toBe("oauth_email_unverified");
  expect(done.headers.getSetCookie().some((cookie) => cookie.startsWith("mp_session="))).toBe(
    false,
  );
  const login = await api(gateway.url, "POST", "/api/auth/login", {
    body: { email: "mallory-target@example.com", password: "correct horse battery" },
  });
  const account = await api(gateway.url, "GET", "/api/account", { token: login.body.token });
  expect(account.body.id).toBe(existing.accountId);
  expect(account.body.login_methods).toEqual(["password"]);
});

test("Google's sign-in goes through discovery and links by its verified email", async () => {
  issuer.users.set("lin", { email: "lin@example.com", email_verified: true });
  const { authorization, landing, jar } = await signIn("google", "lin");
  expect(authorization.searchParams.get("client_id")).toBe(GOOGLE.clientId);
  expect(landing.pathname).toBe("/overview");
  expect((await accountOf(jar)).body.login_methods).toEqual(["google"]);
});

test("a disabled account cannot sign in through its linked provider", async () => {
  issuer.users.set("barred", { email: "barred@example.com", email_verified: true });
  const first = await signIn("oidc", "barred");
  const accountId = (await accountOf(first.jar)).body.id;
  const disabled = await api(gateway.url, "POST", `/admin/accounts/${accountId}/disable`, {
    token: TEST_ADMIN_KEY,
  });
  expect(disabled.status).toBe(200);

  const again = await signIn("oidc", "barred");
  expect(`${again.landing.pathname}${again.landing.search}`).toBe(
    "/login?error=account_disabled",
  );
  expect(again.done.headers.getSetCookie().some((cookie) => cookie.startsWith("mp_session=")))
    .toBe(false);
});

test("another instance sharing the store finishes a sign-in this one started", async () => {
  const second = await startTestApp({
    dataDir: gateway.dataDir,
    env: {
      INSTANCE_ID: "second",
      OIDC_ISSUER: issuer.issuer,
      OIDC_CLIENT_ID: OIDC.clientId,
      OIDC_CLIENT_SECRET: OIDC.clientSecret,
    },
  });
  try {
    issuer.users.set("roaming", { email: "roaming@example.com", email_verified: true });
    const { jar, callback } = await throughIssuer("oidc", "roaming");
    // As a load balancer would: the same callback, answered by the other instance.
    const elsewhere = new URL(`${callback.pathname}${callback.search}`, second.url);
    const done = await browse(jar, elsewhere, { headers: { cookie: jar.header(gateway.url) } });
    expect(done.headers.get("location")).toBe("/overview");
    const session = done.headers.getSetCookie().find((cookie) => cookie.startsWith("mp_session="))!;
    const account = await api(gateway.url, "GET", "/api/account", {
      headers: { cookie: session.split(";")[0] },
    });
    expect(account.body.email).toBe("roaming@example.com");
  } finally {
    await second.close();
  }
});

describe("a callback this browser did not start is refused", () => {
  beforeAll(() => issuer.users.set("eve", { email: "eve@example.com", email_verified: true }));

  async function refused(response: Response) {
    expect(response.status).toBe(302);
    const landing = locationOf(response, gateway.url);
    expect(`${landing.pathname}${landing.search}`).toBe("/login?error=oauth_state_invalid");
    expect(response.headers.getSetCookie().some((cookie) => cookie.startsWith("mp_session=")))
      .toBe(false);
  }

  test("with another state in the link", async () => {
    const { jar, callback } = await throughIssuer("oidc", "eve");
    callback.searchParams.set("state", "forged-state");
    await refused(await browse(jar, callback));
  });

  test("with an altered cookie", async () => {
    const { jar, callback } = await throughIssuer("oidc", "eve");
    const [payload, signature] = jar.get(gateway.url, "mp_oauth")!.split(".");
    const altered = JSON.parse(Buffer.from(payload, "base64url").toString());
    altered.redirectUri = "https://attacker.example/cb";
    const forged = Buffer.from(JSON.stringify(altered)).toString("base64url");
    jar.set(gateway.url, "mp_oauth", `${forged}.${signature}`);
    await refused(await browse(jar, callback));
  });

  test("without the cookie (a link opened in another browser)", async () => {
    const { callback } = await throughIssuer("oidc", "eve");
    await refused(await browse(new CookieJar(), callback));
  });

  test("on another provider's callback", async () => {
    const { jar, callback } = await throughIssuer("oidc", "eve");
    callback.pathname = "/api/auth/oauth/google/callback";
    await refused(await browse(jar, callback));
  });
});

test("an unknown or unconfigured provider is a 404 in the error envelope", async () => {
  for (const provider of ["github", "nope"]) {
    const response = await api(gateway.url, "GET", `/api/auth/oauth/${provider}/start`);
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe("oauth_provider_not_configured");
  }
});

test("an issuer that cannot be reached sends the browser back with a code", async () => {
  const port = await freePort();
  const offline = await startTestApp({
    env: {
      OIDC_ISSUER: `http://127.0.0.1:${port}`,
      OIDC_CLIENT_ID: "x",
      OIDC_CLIENT_SECRET: "y",
    },
  });
  try {
    const response = await browse(new CookieJar(), `${offline.url}/api/auth/oauth/oidc/start`);
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/login?error=oauth_provider_unavailable");
  } finally {
    await offline.close();
  }
});

test("an issuer over plain http is refused unless it is on loopback", () => {
  const oidc = { OIDC_CLIENT_ID: "x", OIDC_CLIENT_SECRET: "y" };
  expect(() => loadConfig({ ...oidc, OIDC_ISSUER: "http://sso.example.com" })).toThrow(
    /OIDC_ISSUER must be an https URL/,
  );
  expect(() => loadConfig({ OIDC_ISSUER: "https://sso.example.com" })).toThrow(
    /OIDC_ISSUER is set but OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are not/,
  );
  expect(loadConfig({ ...oidc, OIDC_ISSUER: "https://sso.example.com" }).oidcIssuer)
    .toBe("https://sso.example.com");
});
