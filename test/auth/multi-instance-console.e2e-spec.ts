import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomEmail } from "../support/accounts.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";
import { asBrowser, cookieSessionOf, loginWithCookies } from "./console-session.ts";

const PASSWORD = "long enough password";

/**
 * Two instances sharing one store: every change the console makes on one instance takes effect
 * on the other's very next request. No sleeps and no retries below: the verifier's wait for the
 * credentials projection is what makes each check pass.
 */
describe("console account changes across instances sharing one embedded event store", () => {
  let dataDir: string;
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "modelpilot-console-multi-"));
    first = await startTestApp({ dataDir, env: { INSTANCE_ID: "first" } });
    second = await startTestApp({ dataDir, env: { INSTANCE_ID: "second" } });
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function signUp() {
    const email = randomEmail("multi");
    const response = await api(first.url, "POST", "/api/auth/signup", {
      body: { email, password: PASSWORD },
    });
    expect(response.status).toBe(201);
    return { email, accountId: response.body.account_id as string, ...cookieSessionOf(response) };
  }

  it("rotation on one instance: the old secret fails on the other at once", async () => {
    const account = await signUp();
    for (let round = 0; round < 3; round++) {
      const created = await api(first.url, "POST", "/api/keys", {
        token: account.sessionToken,
        body: { name: `r${round}`, permissions: ["read"] },
      });
      expect((await api(second.url, "GET", "/api/keys", { token: created.body.key })).status)
        .toBe(200);
      const rotated = await asBrowser(
        first.url,
        account,
        "POST",
        `/api/keys/${created.body.id}/rotate`,
      );
      expect(rotated.status).toBe(200);
      expect((await api(second.url, "GET", "/api/keys", { token: created.body.key })).status)
        .toBe(401);
      expect((await api(second.url, "GET", "/api/keys", { token: rotated.body.key })).status)
        .toBe(200);
    }
  });

  it("logout on one instance: the cookie fails on the other at once", async () => {
    const account = await signUp();
    expect((await asBrowser(second.url, account, "GET", "/api/account")).status).toBe(200);
    expect((await asBrowser(first.url, account, "POST", "/api/auth/logout")).status).toBe(204);
    expect((await asBrowser(second.url, account, "GET", "/api/account")).status).toBe(401);
  });

  it("session revocation on one instance: the revoked session fails on the other at once", async () => {
    const account = await signUp();
    const other = await loginWithCookies(second.url, account.email, PASSWORD);
    expect((await asBrowser(second.url, other, "GET", "/api/account")).status).toBe(200);
    const sessions = await asBrowser(first.url, account, "GET", "/api/auth/sessions");
    const otherId = sessions.body.data.find((row: { current: boolean }) => !row.current).id;
    expect(
      (await asBrowser(first.url, account, "DELETE", `/api/auth/sessions/${otherId}`)).status,
    ).toBe(204);
    expect((await asBrowser(second.url, other, "GET", "/api/account")).status).toBe(401);

    const third = await loginWithCookies(second.url, account.email, PASSWORD);
    const revoked = await asBrowser(first.url, account, "POST", "/api/auth/sessions/revoke-others");
    expect(revoked.body).toEqual({ revoked: 1 });
    expect((await asBrowser(second.url, third, "GET", "/api/account")).status).toBe(401);
    expect((await asBrowser(second.url, account, "GET", "/api/account")).status).toBe(200);
  });

  it("password change on one instance: other sessions and the old password fail on the other", async () => {
    const account = await signUp();
    const other = await loginWithCookies(second.url, account.email, PASSWORD);
    const changed = await asBrowser(first.url, account, "POST", "/api/auth/password", {
      body: { current_password: PASSWORD, new_password: "a different password" },
    });
    expect(changed.status).toBe(204);
    expect((await asBrowser(second.url, other, "GET", "/api/account")).status).toBe(401);
    expect((await asBrowser(second.url, account, "GET", "/api/account")).status).toBe(200);
    const oldLogin = await api(second.url, "POST", "/api/auth/login", {
      body: { email: account.email, password: PASSWORD },
    });
    expect(oldLogin.status).toBe(401);
    const newLogin = await api(second.url, "POST", "/api/auth/login", {
      body: { email: account.email, password: "a different password" },
    });
    expect(newLogin.status).toBe(200);
  });

  it("disable on one instance: keys and sessions get 403 on the other at once, enable restores", async () => {
    const account = await signUp();
    const key = await api(first.url, "POST", "/api/keys", {
      token: account.sessionToken,
      body: { name: "k", permissions: ["read"] },
    });
    expect((await api(second.url, "GET", "/api/keys", { token: key.body.key })).status).toBe(200);
    const disabled = await api(first.url, "POST", `/admin/accounts/${account.accountId}/disable`, {
      token: TEST_ADMIN_KEY,
    });
    expect(disabled.status).toBe(200);
    const byKey = await api(second.url, "GET", "/api/keys", { token: key.body.key });
    expect(byKey.status).toBe(403);
    expect(byKey.body.error.code).toBe("account_disabled");
    const byCookie = await asBrowser(second.url, account, "GET", "/api/account");
    expect(byCookie.status).toBe(403);
    expect(byCookie.body.error.code).toBe("account_disabled");

    await api(second.url, "POST", `/admin/accounts/${account.accountId}/enable`, {
      token: TEST_ADMIN_KEY,
    });
    expect((await api(first.url, "GET", "/api/keys", { token: key.body.key })).status).toBe(200);
    expect((await asBrowser(first.url, account, "GET", "/api/account")).status).toBe(200);
  });
});
