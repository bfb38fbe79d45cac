import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

describe("admin accounts API", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await app.close();
  });

  it("creates an account, reads it, issues and revokes a key that works in between", async () => {
    const created = await api(app.url, "POST", "/admin/accounts", {
      token: TEST_ADMIN_KEY,
      body: { email: "Ops-Made@Example.com" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^acct_/),
      email: "ops-made@example.com",
      created_at: expect.any(String),
    });
    const id = created.body.id;

    const read = await api(app.url, "GET", `/admin/accounts/${id}`, { token: TEST_ADMIN_KEY });
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ ...created.body, disabled: false, balance_usd: 0 });

    const key = await api(app.url, "POST", `/admin/accounts/${id}/api-keys`, {
      token: TEST_ADMIN_KEY,
      body: { name: "script", permissions: ["read", "proxy"] },
    });
    expect(key.status).toBe(201);
    expect(key.body).toEqual({
      id: expect.stringMatching(/^key_/),
      key: expect.stringMatching(/^mp_live_[0-9A-Za-z]{32,}$/),
      name: "script",
      permissions: ["read", "proxy"],
      prefix: key.body.key.slice(0, 12),
      created_at: expect.any(String),
      expires_at: null,
      previous_valid_until: null,
    });
    const listed = await api(app.url, "GET", "/api/keys", { token: key.body.key });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((entry: { id: string }) => entry.id)).toEqual([key.body.id]);

    // No password: the account cannot log in, only use its keys.
    const login = await api(app.url, "POST", "/api/auth/login", {
      body: { email: "ops-made@example.com", password: "anything-at-all" },
    });
    expect(login.status).toBe(401);

    const revoked = await api(app.url, "DELETE", `/admin/accounts/${id}/api-keys/${key.body.id}`, {
      token: TEST_ADMIN_KEY,
    });
    expect(revoked.status).toBe(204);
    expect((await api(app.url, "GET", "/api/keys", { token: key.body.key })).status).toBe(401);
  });

  it("records the admin as the actor of every admin action", async () => {
    const created = await api(app.url, "POST", "/admin/accounts", {
      token: TEST_ADMIN_KEY,
      body: { email: "audited@example.com" },
    });
    const key = await api(app.url, "POST", `/admin/accounts/${created.body.id}/api-keys`, {
      token: TEST_ADMIN_KEY,
      body: { name: "k", permissions: ["read"] },
    });
    await api(app.url, "DELETE", `/admin/accounts/${created.body.id}/api-keys/${key.body.id}`, {
      token: TEST_ADMIN_KEY,
    });
    const { EVENT_STORE } = await import("../../src/event-store/event-store.port.ts");
    const store = app.app.get(EVENT_STORE);
    const events = await store.readStream(`account-${created.body.id}`);
    expect(events.map((event: { type: string }) => event.type)).toEqual([
      "AccountRegistered",
      "ApiKeyCreated",
      "ApiKeyRevoked",
    ]);
    for (const event of events) expect(event.metadata.actor).toBe("admin");
  });

  it("answers 404 for unknown accounts and keys, 409 for a taken email", async () => {
    const missing = await api(app.url, "GET", "/admin/accounts/acct_nope", {
      token: TEST_ADMIN_KEY,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("account_not_found");
    const keyForMissing = await api(app.url, "POST", "/admin/accounts/acct_nope/api-keys", {
      token: TEST_ADMIN_KEY,
      body: { name: "k", permissions: ["read"] },
    });
    expect(keyForMissing.status).toBe(404);

    const account = await api(app.url, "POST", "/admin/accounts", {
      token: TEST_ADMIN_KEY,
      body: { email: "dup@example.com" },
    });
    const unknownKey = await api(
      app.url,
      "DELETE",
      `/admin/accounts/${account.body.id}/api-keys/key_nope`,
      {
        token: TEST_ADMIN_KEY,
      },
    );
    expect(unknownKey.status).toBe(404);
    expect(unknownKey.body.error.code).toBe("api_key_not_found");

    const again = await api(app.url, "POST", "/admin/accounts", {
      token: TEST_ADMIN_KEY,
      body: { email: "DUP@example.com" },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("email_taken");
    const signup = await api(app.url, "POST", "/api/auth/signup", {
      body: { email: "dup@example.com", password: "long enough password" },
    });
    expect(signup.status).toBe(409);
  });

  it("refuses bad bodies with a 400 naming the field", async () => {
    const account = await api(app.url, "POST", "/admin/accounts", {
      token: TEST_ADMIN_KEY,
      body: { email: "valid-bodies@example.com" },
    });
    const cases: Array<[string, unknown, string | null]> = [
      ["/admin/accounts", { email: ["a@b.c"] }, "email"],
      ["/admin/accounts", {}, "email"],
      ["/admin/accounts", { email: "x@example.com", password: "nope" }, "password"],
      [
        `/admin/accounts/${account.body.id}/api-keys`,
        { name: "k", permissions: ["sudo"] },
        "permissions",
      ],
      [`/admin/accounts/${account.body.id}/api-keys`, "not json", null],
    ];
    for (const [path, body, param] of cases) {
      const response = await api(app.url, "POST", path, { token: TEST_ADMIN_KEY, body });
      expect({ path, body, status: response.status, param: response.body.error.param }).toEqual({
        path,
        body,
        status: 400,
        param,
      });
    }
  });

  it("answers 401 for a missing or wrong admin key, also with a user's key", async () => {
    const signup = await api(app.url, "POST", "/api/auth/signup", {
      body: { email: "not-admin@example.com", password: "long enough password" },
    });
    for (
      const token of [
        undefined,
        "wrong-admin-key-0123456789",
        signup.body.token,
        `${TEST_ADMIN_KEY}x`,
      ]
    ) {
      const response = await api(app.url, "POST", "/admin/accounts", {
        token,
        body: { email: "z@example.com" },
      });
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe("invalid_api_key");
    }
  });
});

describe("admin API without ADMIN_API_KEY", () => {
  it("answers 403 on every admin route, saying how to enable it", async () => {
    const app = await startTestApp({ env: { ADMIN_API_KEY: undefined } });
    try {
      const routes: Array<[string, string]> = [
        ["POST", "/admin/accounts"],
        ["GET", "/admin/accounts/acct_x"],
        ["POST", "/admin/accounts/acct_x/api-keys"],
        ["DELETE", "/admin/accounts/acct_x/api-keys/key_x"],
      ];
      for (const [method, path] of routes) {
        const response = await api(app.url, method, path, {
          token: TEST_ADMIN_KEY,
          body: method === "POST" ? { email: "a@example.com" } : undefined,
        });
        expect(response.status).toBe(403);
        expect(response.body.error.type).toBe("permission_error");
        expect(response.body.error.message).toContain("ADMIN_API_KEY");
      }
    } finally {
      await app.close();
    }
  });
});
