import { createHash } from "node:crypto";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { randomEmail } from "../support/accounts.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";
import { asBrowser, cookieSessionOf, loginWithCookies } from "./console-session.ts";

const PASSWORD = "correct horse battery staple";

describe("console account API: cookie sessions, CSRF, logout, sessions and passwords", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => await app.close());

  async function signUp(email = randomEmail("console")) {
    const response = await api(app.url, "POST", "/api/auth/signup", {
      body: { email, password: PASSWORD },
    });
    expect(response.status).toBe(201);
    return { email, response, session: cookieSessionOf(response) };
  }

  it("sets an HttpOnly SameSite=Lax session cookie and a readable CSRF cookie at signup", async () => {
    const { response, session } = await signUp();
    expect(response.body).toEqual({
      account_id: expect.stringMatching(/^acct_/),
      token: session.sessionToken,
      csrf_token: session.csrfToken,
    });
    const expected = createHash("sha256").update(`csrf:${session.sessionToken}`).digest(
      "base64url",
    );
    expect(session.csrfToken).toBe(expected);
    const [sessionCookie, csrfCookie] = [
      session.setCookies.find((line) => line.startsWith("mp_session="))!,
      session.setCookies.find((line) => line.startsWith("mp_csrf="))!,
    ];
    expect(sessionCookie).toMatch(/; HttpOnly/);
    expect(sessionCookie).toMatch(/; SameSite=Lax/);
    expect(sessionCookie).toMatch(/; Path=\//);
    expect(sessionCookie).toMatch(/; Max-Age=604800/);
    // Plain HTTP here: Secure would make the browser drop it.
    expect(sessionCookie).not.toMatch(/Secure/);
    expect(csrfCookie).not.toMatch(/HttpOnly/);
  });

  it("marks the cookies Secure when the request came over HTTPS through a trusted proxy", async () => {
    const proxied = await startTestApp({ env: { TRUST_PROXY: "1" } });
    try {
      const response = await api(proxied.url, "POST", "/api/auth/signup", {
        body: { email: randomEmail("https"), password: PASSWORD },
        headers: { "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9" },
      });
      expect(response.status).toBe(201);
      const cookies = response.headers.getSetCookie();
      expect(cookies).toHaveLength(2);
      for (const cookie of cookies) expect(cookie).toMatch(/; Secure$/);
    } finally {
      await proxied.close();
    }
  });

  it("reads the account with the cookie alone, with its login methods and CSRF token", async () => {
    const { email } = await signUp();
    const session = await loginWithCookies(app.url, email, PASSWORD);
    const account = await asBrowser(app.url, session, "GET", "/api/account", { csrf: false });
    expect(account.status).toBe(200);
    expect(account.body).toEqual({
      id: expect.stringMatching(/^acct_/),
      object: "account",
      email,
      created_at: expect.any(String),
      login_methods: ["password"],
      disabled: false,
      csrf_token: session.csrfToken,
    });
    // A bearer caller gets no CSRF token: it needs none.
    const bearer = await api(app.url, "GET", "/api/account", { token: session.sessionToken });
    expect(bearer.body.csrf_token).toBeUndefined();
    expect(bearer.body.id).toBe(account.body.id);
  });

  it("refuses a cookie-authenticated change without the CSRF header, or with a wrong one", async () => {
    const { session } = await signUp();
    const store = app.app.get<EventStore>(EVENT_STORE);
    const before = await store.headPosition();
    for (const csrf of [false, "wrong", `${session.csrfToken}x`] as const) {
      const refused = await asBrowser(app.url, session, "POST", "/api/keys", {
        body: { name: "k", permissions: ["read"] },
        csrf,
      });
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe("csrf_token_invalid");
    }
    expect(await store.headPosition()).toBe(before);
    // Another session's CSRF token does not fit this session.
    const other = await signUp();
    const crossed = await asBrowser(app.url, session, "POST", "/api/keys", {
      body: { name: "k", permissions: ["read"] },
      csrf: other.session.csrfToken,
    });
    expect(crossed.status).toBe(403);

    const accepted = await asBrowser(app.url, session, "POST", "/api/keys", {
      body: { name: "k", permissions: ["read"] },
    });
    expect(accepted.status).toBe(201);
  });

  it("lets bearer callers ignore cookies entirely", async () => {
    const { session } = await signUp();
    const { session: other } = await signUp();
    // A bearer request carrying another account's cookie acts as the bearer, with no CSRF.
    const created = await api(app.url, "POST", "/api/keys", {
      token: session.sessionToken,
      headers: { cookie: other.cookie },
      body: { name: "bearer", permissions: ["read"] },
    });
    expect(created.status).toBe(201);
    const mine = await api(app.url, "GET", "/api/keys", { token: session.sessionToken });
    expect(mine.body.data.map((key: { name: string }) => key.name)).toEqual(["bearer"]);
    // A wrong Authorization header is not rescued by a valid cookie.
    const wrong = await api(app.url, "GET", "/api/account", {
      headers: { authorization: "Bearer mp_live_nonsense", cookie: session.cookie },
    });
    expect(wrong.status).toBe(401);
    // Without either: the same message as ever.
    const none = await api(app.url, "GET", "/api/account");
    expect(none.status).toBe(401);
    expect(none.body.error.message).toMatch(/You didn't provide an API key/);
  });

  it("logs out: the session ends, the cookies are cleared, and the token fails next time", async () => {
    const { session } = await signUp();
    expect((await asBrowser(app.url, session, "POST", "/api/auth/logout", { csrf: false })).status)
      .toBe(403);
    const loggedOut = await asBrowser(app.url, session, "POST", "/api/auth/logout");
    expect(loggedOut.status).toBe(204);
    const cleared = loggedOut.headers.getSetCookie();
    expect(cleared).toEqual(expect.arrayContaining([
      expect.stringMatching(/^mp_session=; .*Max-Age=0/),
      expect.stringMatching(/^mp_csrf=; .*Max-Age=0/),
    ]));
    const after = await asBrowser(app.url, session, "GET", "/api/account");
    expect(after.status).toBe(401);
    const bearer = await api(app.url, "GET", "/api/account", { token: session.sessionToken });
    expect(bearer.status).toBe(401);
    expect(bearer.body.error.message).toMatch(/session has ended/);
  });

  it("logs out a bearer session, and refuses logout for an API key", async () => {
    const { session } = await signUp();
    const key = await api(app.url, "POST", "/api/keys", {
      token: session.sessionToken,
      body: { name: "k", permissions: ["read", "manage"] },
    });
    const byKey = await api(app.url, "POST", "/api/auth/logout", { token: key.body.key });
    expect(byKey.status).toBe(400);
    expect(byKey.body.error.code).toBe("not_a_session");
    const out = await api(app.url, "POST", "/api/auth/logout", { token: session.sessionToken });
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie()).toEqual([]);
    expect((await api(app.url, "GET", "/api/keys", { token: session.sessionToken })).status)
      .toBe(401);
  });

  it("lists live sessions, revokes one, and logs out the others", async () => {
    const { email, session: first } = await signUp();
    const second = await loginWithCookies(app.url, email, PASSWORD);
    const third = await loginWithCookies(app.url, email, PASSWORD);
    const listed = await asBrowser(app.url, second, "GET", "/api/auth/sessions");
    expect(listed.status).toBe(200);
    expect(listed.body.object).toBe("list");
    expect(listed.body.data).toHaveLength(3);
    for (const row of listed.body.data) {
      expect(row).toEqual({
        id: expect.stringMatching(/^sess_/),
        object: "session",
        created_at: expect.any(String),
        expires_at: expect.any(String),
        current: expect.any(Boolean),
      });
    }
    const current = listed.body.data.filter((row: { current: boolean }) => row.current);
    expect(current).toHaveLength(1);

    // Revoke the first session by id (found as the one neither second nor third calls current).
    const thirdView = await asBrowser(app.url, third, "GET", "/api/auth/sessions");
    const thirdId = thirdView.body.data.find((row: { current: boolean }) => row.current).id;
    const firstId =
      listed.body.data.find((row: { id: string; current: boolean }) =>
        !row.current && row.id !== thirdId
      ).id;
    const revoked = await asBrowser(app.url, second, "DELETE", `/api/auth/sessions/${firstId}`);
    expect(revoked.status).toBe(204);
    expect((await asBrowser(app.url, first, "GET", "/api/account")).status).toBe(401);
    // Someone else's session id is not found, and changes nothing.
    const stranger = await signUp();
    const foreign = await asBrowser(
      app.url,
      stranger.session,
      "DELETE",
      `/api/auth/sessions/${thirdId}`,
    );
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe("session_not_found");
    expect((await asBrowser(app.url, third, "GET", "/api/account")).status).toBe(200);

    const others = await asBrowser(app.url, second, "POST", "/api/auth/sessions/revoke-others");
    expect(others.status).toBe(200);
    expect(others.body).toEqual({ revoked: 1 });
    expect((await asBrowser(app.url, third, "GET", "/api/account")).status).toBe(401);
    expect((await asBrowser(app.url, second, "GET", "/api/account")).status).toBe(200);
    const left = await asBrowser(app.url, second, "GET", "/api/auth/sessions");
    expect(left.body.data.map((row: { current: boolean }) => row.current)).toEqual([true]);
  });

  it("changes the password: other sessions end, this one stays, the old password fails", async () => {
    const { email, session, response } = await signUp();
    const accountId = response.body.account_id;
    const other = await loginWithCookies(app.url, email, PASSWORD);
    const wrong = await asBrowser(app.url, session, "POST", "/api/auth/password", {
      body: { current_password: "not it at all", new_password: "a brand new password" },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({
      code: "invalid_current_password",
      param: "current_password",
    });
    const missing = await asBrowser(app.url, session, "POST", "/api/auth/password", {
      body: { new_password: "a brand new password" },
    });
    expect(missing.status).toBe(400);
    const short = await asBrowser(app.url, session, "POST", "/api/auth/password", {
      body: { current_password: PASSWORD, new_password: "short" },
    });
    expect(short.status).toBe(400);
    expect(short.body.error.param).toBe("new_password");
    expect((await asBrowser(app.url, other, "GET", "/api/account")).status).toBe(200);

    const changed = await asBrowser(app.url, session, "POST", "/api/auth/password", {
      body: { current_password: PASSWORD, new_password: "a brand new password" },
    });
    expect(changed.status).toBe(204);
    expect((await asBrowser(app.url, session, "GET", "/api/account")).status).toBe(200);
    expect((await asBrowser(app.url, other, "GET", "/api/account")).status).toBe(401);
    const oldLogin = await api(app.url, "POST", "/api/auth/login", {
      body: { email, password: PASSWORD },
    });
    expect(oldLogin.status).toBe(401);
    const newLogin = await api(app.url, "POST", "/api/auth/login", {
      body: { email, password: "a brand new password" },
    });
    expect(newLogin.status).toBe(200);
    // The new hash is in the event, hidden from operator tools like PasswordSet's.
    const stream = await api(app.url, "GET", `/admin/streams/account-${accountId}`, {
      token: TEST_ADMIN_KEY,
    });
    const change = stream.body.data.find((event: { type: string }) =>
      event.type === "PasswordChanged"
    );
    expect(change.data).toMatchObject({
      passwordHash: "[redacted]",
      keptSessionId: expect.any(String),
    });
  });
});
