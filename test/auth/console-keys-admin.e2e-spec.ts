import { ManualClock } from "../../src/common/clock.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { randomEmail } from "../support/accounts.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

const PASSWORD = "correct horse battery staple";
const MINUTE = 60_000;

describe("console key features: expiry, last use and rotation", () => {
  let app: TestApp;
  const clock = new ManualClock(new Date("2026-03-01T00:00:00.000Z"));

  beforeAll(async () => {
    app = await startTestApp({ clock, env: { SESSION_TTL_SECONDS: String(30 * 86_400) } });
  });
  afterAll(async () => await app.close());

  async function session(): Promise<string> {
    const response = await api(app.url, "POST", "/api/auth/signup", {
      body: { email: randomEmail("keys"), password: PASSWORD },
    });
    expect(response.status).toBe(201);
    return response.body.token;
  }

  async function createKey(token: string, body: Record<string, unknown>) {
    return await api(app.url, "POST", "/api/keys", {
      token,
      body: { name: "k", permissions: ["read", "manage"], ...body },
    });
  }

  it("creates a key that expires, lists its expiry, and refuses it with 401 once past", async () => {
    const token = await session();
    const expiresAt = new Date(clock.now().getTime() + 10 * MINUTE).toISOString();
    const created = await createKey(token, { expires_at: expiresAt });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ expires_at: expiresAt, previous_valid_until: null });

    expect((await api(app.url, "GET", "/api/keys", { token: created.body.key })).status).toBe(200);
    const listed = await api(app.url, "GET", "/api/keys", { token });
    expect(listed.body.data[0]).toMatchObject({
      id: created.body.id,
      expires_at: expiresAt,
      last_used_at: clock.now().toISOString(),
      previous_valid_until: null,
    });

    clock.advance(10 * MINUTE);
    const expired = await api(app.url, "GET", "/api/keys", { token: created.body.key });
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe("invalid_api_key");
    expect(expired.body.error.message).toMatch(/expired/);
  });

  it("refuses an expiry in the past or that is not a date, appending nothing", async () => {
    const token = await session();
    const store = app.app.get<EventStore>(EVENT_STORE);
    const before = await store.headPosition();
    for (const expires_at of ["2020-01-01T00:00:00Z", "tomorrow", 12, "2020-W01"]) {
      const refused = await createKey(token, { expires_at });
      expect(refused.status).toBe(400);
      expect(refused.body.error.param).toBe("expires_at");
    }
    expect(await store.headPosition()).toBe(before);
  });

  it("rotates a key without grace: same id, name and permissions; the old secret fails at once", async () => {
    const token = await session();
    const created = await createKey(token, { name: "deploy", permissions: ["read", "proxy"] });
    const rotated = await api(app.url, "POST", `/api/keys/${created.body.id}/rotate`, { token });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({
      id: created.body.id,
      key: expect.stringMatching(/^mp_live_/),
      name: "deploy",
      permissions: ["read", "proxy"],
      prefix: rotated.body.key.slice(0, 12),
      created_at: created.body.created_at,
      expires_at: null,
      previous_valid_until: null,
    });
    expect(rotated.body.key).not.toBe(created.body.key);
    const old = await api(app.url, "GET", "/api/keys", { token: created.body.key });
    expect(old.status).toBe(401);
    expect(old.body.error.message).toMatch(/rotated/);
    expect((await api(app.url, "GET", "/api/keys", { token: rotated.body.key })).status).toBe(200);
  });

  it("rotates with a grace period: both secrets work until it ends, then only the new one", async () => {
    const token = await session();
    const created = await createKey(token, {});
    const rotated = await api(app.url, "POST", `/api/keys/${created.body.id}/rotate`, {
      token,
      body: { grace_period_s: 3600 },
    });
    expect(rotated.status).toBe(200);
    const until = new Date(clock.now().getTime() + 3600_000).toISOString();
    expect(rotated.body.previous_valid_until).toBe(until);
    const listed = await api(app.url, "GET", "/api/keys", { token });
    expect(listed.body.data[0]).toMatchObject({
      id: created.body.id,
      prefix: rotated.body.prefix,
      previous_valid_until: until,
    });
    expect((await api(app.url, "GET", "/api/keys", { token: created.body.key })).status).toBe(200);
    expect((await api(app.url, "GET", "/api/keys", { token: rotated.body.key })).status).toBe(200);

    clock.advance(3600_000);
    expect((await api(app.url, "GET", "/api/keys", { token: created.body.key })).status).toBe(401);
    expect((await api(app.url, "GET", "/api/keys", { token: rotated.body.key })).status).toBe(200);
    const after = await api(app.url, "GET", "/api/keys", { token });
    expect(after.body.data[0].previous_valid_until).toBeNull();

    // A second rotation replaces the grace secret: only one earlier secret is ever honoured.
    const again = await api(app.url, "POST", `/api/keys/${created.body.id}/rotate`, {
      token,
      body: { grace_period_s: 60 },
    });
    const third = await api(app.url, "POST", `/api/keys/${created.body.id}/rotate`, { token });
    expect((await api(app.url, "GET", "/api/keys", { token: rotated.body.key })).status).toBe(401);
    expect((await api(app.url, "GET", "/api/keys", { token: again.body.key })).status).toBe(401);
    expect((await api(app.url, "GET", "/api/keys", { token: third.body.key })).status).toBe(200);
  });

  it("refuses bad grace periods, unknown or revoked keys, and keys stronger than the caller", async () => {
    const token = await session();
    const created = await createKey(token, { permissions: ["read", "proxy", "manage"] });
    for (const grace_period_s of [-1, 7 * 86_400 + 1, 1.5, "60"]) {
      const refused = await api(app.url, "POST", `/api/keys/${created.body.id}/rotate`, {
        token,
        body: { grace_period_s },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.param).toBe("grace_period_s");
    }
    const unknown = await api(app.url, "POST", "/api/keys/key_nope/rotate", { token });
    expect(unknown.status).toBe(404);
    const manager = await createKey(token, { permissions: ["read", "manage"] });
    const stronger = await api(app.url, "POST", `/api/keys/${created.body.id}/rotate`, {
      token: manager.body.key,
    });
    expect(stronger.status).toBe(403);
    expect((await api(app.url, "GET", "/api/keys", { token: created.body.key })).status).toBe(200);
    await api(app.url, "DELETE", `/api/keys/${created.body.id}`, { token });
    const revoked = await api(app.url, "POST", `/api/keys/${created.body.id}/rotate`, { token });
    expect(revoked.status).toBe(404);
  });
});

describe("admin: disable, enable and search accounts", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => await app.close());

  const admin = (method: string, path: string) =>
    api(app.url, method, path, { token: TEST_ADMIN_KEY });

  it("disables an account: keys and sessions get 403 account_disabled until it is enabled", async () => {
    const email = randomEmail("disabled");
    const signup = await api(app.url, "POST", "/api/auth/signup", {
      body: { email, password: PASSWORD },
    });
    const id = signup.body.account_id;
    const key = await api(app.url, "POST", "/api/keys", {
      token: signup.body.token,
      body: { name: "k", permissions: ["read"] },
    });

    const disabled = await admin("POST", `/admin/accounts/${id}/disable`);
    expect(disabled.status).toBe(200);
    expect(disabled.body).toEqual({
      id,
      email,
      created_at: expect.any(String),
      disabled: true,
      balance_usd: 0,
    });
    for (const token of [key.body.key, signup.body.token]) {
      const refused = await api(app.url, "GET", "/api/keys", { token });
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe("account_disabled");
    }
    const login = await api(app.url, "POST", "/api/auth/login", {
      body: { email, password: PASSWORD },
    });
    expect(login.status).toBe(403);
    expect(login.body.error.code).toBe("account_disabled");
    // A wrong password still reads as a wrong password: disabled is not revealed to guessers.
    const guess = await api(app.url, "POST", "/api/auth/login", {
      body: { email, password: "not the password" },
    });
    expect(guess.status).toBe(401);

    const enabled = await admin("POST", `/admin/accounts/${id}/enable`);
    expect(enabled.status).toBe(200);
    expect(enabled.body.disabled).toBe(false);
    expect((await api(app.url, "GET", "/api/keys", { token: key.body.key })).status).toBe(200);
    expect((await api(app.url, "GET", "/api/keys", { token: signup.body.token })).status).toBe(200);

    const unknown = await admin("POST", "/admin/accounts/acct_nope/disable");
    expect(unknown.status).toBe(404);
  });

  it("searches by email substring or id prefix, pages with a cursor, and bounds the limit", async () => {
    const tag = `srch${Math.random().toString(36).slice(2, 8)}`;
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      const created = await api(app.url, "POST", "/admin/accounts", {
        token: TEST_ADMIN_KEY,
        body: { email: `${tag}-${index}@example.com` },
      });
      ids.push(created.body.id);
    }
    const byEmail = await admin("GET", `/admin/accounts?q=${tag.toUpperCase()}`);
    expect(byEmail.status).toBe(200);
    expect(byEmail.body.object).toBe("list");
    expect(byEmail.body.data.map((row: { id: string }) => row.id)).toEqual([...ids].sort());
    expect(byEmail.body.data[0]).toEqual({
      id: expect.any(String),
      email: expect.stringContaining(tag),
      created_at: expect.any(String),
      disabled: false,
      balance_usd: 0,
    });
    expect(byEmail.body.next_cursor).toBeNull();

    const byId = await admin("GET", `/admin/accounts?q=${ids[2]}`);
    expect(byId.body.data.map((row: { id: string }) => row.id)).toEqual([ids[2]]);
    // LIKE wildcards are literal text here.
    expect((await admin("GET", "/admin/accounts?q=%25")).body.data).toEqual([]);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: Array<{ id: string }>; next_cursor: string | null } } =
        await admin("GET", `/admin/accounts?q=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((row) => row.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].sort());

    for (const query of ["limit=0", "limit=101", "limit=x", "q=a&q=b", `q=${"a".repeat(300)}`]) {
      const refused = await admin("GET", `/admin/accounts?${query}`);
      expect(refused.status).toBe(400);
    }
    expect((await api(app.url, "GET", "/admin/accounts")).status).toBe(401);
  });
});
