import { signUp } from "../support/accounts.ts";
import { type GitHubStandIn, startGitHubStandIn } from "../support/github-oauth-standin.ts";
import { browse, CookieJar, locationOf, walkProvider } from "../support/oauth-browser.ts";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";

// GitHub's web application flow against a local stand-in of its three endpoints (authorize,
// access_token, and the REST API's /user and /user/emails), laid out like GitHub Enterprise.

let github: GitHubStandIn;
let gateway: TestApp;

function githubEnv(standIn: GitHubStandIn, secret = standIn.clientSecret) {
  return {
    GITHUB_CLIENT_ID: standIn.clientId,
    GITHUB_CLIENT_SECRET: secret,
    GITHUB_OAUTH_URL: standIn.url,
    GITHUB_API_URL: standIn.apiUrl,
  };
}

beforeAll(async () => {
  github = await startGitHubStandIn({
    user: { id: 1, login: "octocat", emails: [] },
  });
  gateway = await startTestApp({ env: githubEnv(github) });
  github.callbackUrl = `${gateway.url}/api/auth/oauth/github/callback`;
});

afterAll(async () => {
  await gateway?.close();
  await github?.close();
});

async function signIn(app: TestApp = gateway) {
  const jar = new CookieJar();
  const start = await browse(jar, `${app.url}/api/auth/oauth/github/start`);
  expect(start.status).toBe(302);
  const authorization = locationOf(start, app.url);
  const callback = await walkProvider(jar, authorization, app.url, () => {
    throw new Error("GitHub's stand-in shows no forms");
  });
  const done = await browse(jar, callback);
  return { jar, authorization, callback, done, landing: locationOf(done, app.url) };
}

async function accountOf(jar: CookieJar) {
  return await api(gateway.url, "GET", "/api/account", {
    headers: { cookie: jar.header(gateway.url) },
  });
}

test("offers GitHub on the login page", async () => {
  const providers = await api(gateway.url, "GET", "/api/auth/providers");
  expect(providers.body).toEqual({ data: [{ id: "github", name: "GitHub" }] });
});

test("a new GitHub user gets an account from the verified primary email", async () => {
  github.user = {
    id: 583231,
    login: "octocat",
    publicEmail: "public@example.com",
    emails: [
      { email: "octo-old@example.com", primary: false, verified: true },
      { email: "octocat@example.com", primary: true, verified: true },
    ],
  };
  github.requests.length = 0;
  const { authorization, landing, jar } = await signIn();

  expect(authorization.pathname).toBe("/login/oauth/authorize");
  expect(authorization.searchParams.get("scope")).toBe("read:user user:email");
  expect(authorization.searchParams.get("code_challenge_method")).toBe("S256");
  expect(authorization.searchParams.get("state")).toBeTruthy();
  const exchange = github.requests.find((request) => request.path === "/login/oauth/access_token");
  expect(exchange?.body?.client_secret).toBe(github.clientSecret);
  expect(exchange?.body?.code_verifier).toBeTruthy();
  expect(github.requests.map((request) => request.path)).toEqual(
    expect.arrayContaining(["/api/v3/user", "/api/v3/user/emails"]),
  );

  expect(landing.pathname).toBe("/overview");
  const account = await accountOf(jar);
  expect(account.status).toBe(200);
  expect(account.body.email).toBe("octocat@example.com");
  expect(account.body.login_methods).toEqual(["github"]);

  // GitHub's numeric id is the identity: a new primary address still reaches the same account.
  github.user = {
    ...github.user,
    login: "renamed-octocat",
    emails: [{ email: "octocat-new@example.com", primary: true, verified: true }],
  };
  const again = await signIn();
  expect((await accountOf(again.jar)).body.id).toBe(account.body.id);
});

test("links to the password account that has the verified primary email", async () => {
  const existing = await signUp(gateway.url, "hubot@example.com", "correct horse battery");
  github.user = {
    id: 2,
    login: "hubot",
    emails: [{ email: "Hubot@Example.com", primary: true, verified: true }],
  };
  const { landing, jar } = await signIn();
  expect(landing.pathname).toBe("/overview");
  const account = await accountOf(jar);
  expect(account.body.id).toBe(existing.accountId);
  expect(account.body.login_methods).toEqual(["password", "github"]);
});

test("an unverified primary email signs no one in, even beside a verified one", async () => {
  github.user = {
    id: 3,
    login: "unverified",
    publicEmail: "claimed@example.com",
    emails: [
      { email: "claimed@example.com", primary: true, verified: false },
      { email: "secondary@example.com", primary: false, verified: true },
    ],
  };
  const { done, landing } = await signIn();
  expect(`${landing.pathname}${landing.search}`).toBe("/login?error=oauth_email_unverified");
  expect(done.headers.getSetCookie().some((cookie) => cookie.startsWith("mp_session=")))
    .toBe(false);
  // Neither address was claimed: both can still sign up.
  await signUp(gateway.url, "claimed@example.com", "correct horse battery");
  await signUp(gateway.url, "secondary@example.com", "correct horse battery");
});

test("a user who cancels at GitHub lands on the login page with oauth_denied", async () => {
  github.deny = true;
  const { landing } = await signIn();
  expect(`${landing.pathname}${landing.search}`).toBe("/login?error=oauth_denied");
});

test("a forged state is refused before any code is exchanged", async () => {
  github.user = {
    id: 4,
    login: "forger",
    emails: [{ email: "forger@example.com", primary: true, verified: true }],
  };
  const jar = new CookieJar();
  const start = await browse(jar, `${gateway.url}/api/auth/oauth/github/start`);
  const callback = await walkProvider(jar, locationOf(start, gateway.url), gateway.url, () => ({}));
  callback.searchParams.set("state", "forged");
  github.requests.length = 0;
  const done = await browse(jar, callback);
  expect(done.headers.get("location")).toBe("/login?error=oauth_state_invalid");
  expect(github.requests).toEqual([]);
});

test("a wrong client secret is refused by GitHub and reported as oauth_failed", async () => {
  const misconfigured = await startTestApp({ env: githubEnv(github, "not-the-secret") });
  const registered = github.callbackUrl;
  github.callbackUrl = `${misconfigured.url}/api/auth/oauth/github/callback`;
  try {
    const { landing } = await signIn(misconfigured);
    expect(`${landing.pathname}${landing.search}`).toBe("/login?error=oauth_failed");
  } finally {
    github.callbackUrl = registered;
    await misconfigured.close();
  }
});
