import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

const PASSWORD = "correct horse battery staple";

async function headPosition(app: TestApp): Promise<string> {
  const health = await api(app.url, "GET", "/admin/health", { token: TEST_ADMIN_KEY });
  return health.body.event_store.head_position;
}

async function signUp(app: TestApp, email: string, password = PASSWORD) {
  const response = await api(app.url, "POST", "/api/auth/signup", { body: { email, password } });
  expect(response.status).toBe(201);
  return response.body as { account_id: string; token: string };
}

function expectEnvelope(body: any, code: string | null, type?: string) {
  expect(body).toEqual({
    error: {
      message: expect.any(String),
      type: type ?? expect.any(String),
      param: body?.error?.param ?? null,
      code,
    },
  });
}

describe("auth: accounts, sessions and API keys over HTTP", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await app.close();
  });

  it("signs up, logs in, and the session manages the own account", async () => {
    const { account_id, token } = await signUp(app, "  Alice@Example.COM ");
    expect(account_id).toMatch(/^acct_[0-9A-Za-z]{22}$/);
    expect(token).toMatch(/^mp_sess_[0-9A-Za-z]{43}$/);

    const login = await api(app.url, "POST", "/api/auth/login", {
      body: { email: "alice@example.com", password: PASSWORD },
    });
    expect(login.status).toBe(200);
    expect(login.body.token).toMatch(/^mp_sess_/);
    expect(login.body.token).not.toBe(token);

    const keys = await api(app.url, "GET", "/api/keys", { token: login.body.token });
    expect(keys.status).toBe(200);
    expect(keys.body).toEqual({ object: "list", data: [] });
  });

  it("refuses a wrong password and an unknown email with the same 401", async () => {
    await signUp(app, "bob@example.com");
    const wrong = await api(app.url, "POST", "/api/auth/login", {
      body: { email: "bob@example.com", password: "not the password" },
    });
    const unknown = await api(app.url, "POST", "/api/auth/login", {
      body: { email: "nobody@example.com", password: PASSWORD },
    });
    for (const response of [wrong, unknown]) {
      expect(response.status).toBe(401);
      expectEnvelope(response.body, "invalid_credentials", "invalid_request_error");
    }
    expect(wrong.body.error.message).toBe(unknown.body.error.message);
  });

  it("refuses a second sign-up with the same email in another spelling", async () => {
    await signUp(app, "carol@example.com");
    const again = await api(app.url, "POST", "/api/auth/signup", {
      body: { email: "CAROL@example.com ", password: PASSWORD },
    });
    expect(again.status).toBe(409);
    expectEnvelope(again.body, "email_taken");
    expect(again.body.error.param).toBe("email");
  });

  it("lets exactly one of many concurrent sign-ups with one email win", async () => {
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        api(app.url, "POST", "/api/auth/signup", {
          body: { email: index % 2 ? "race@example.com" : "RACE@example.com", password: PASSWORD },
        })),
    );
    const statuses = attempts.map((attempt) => attempt.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const winner = attempts.find((attempt) => attempt.status === 201)!;
    const login = await api(app.url, "POST", "/api/auth/login", {
      body: { email: "race@example.com", password: PASSWORD },
    });
    expect(login.status).toBe(200);
    // The login lands on the winner's account: its session sees the winner's (empty) key list.
    const created = await api(app.url, "POST", "/api/keys", {
      token: winner.body.token,
      body: { name: "winner", permissions: ["read"] },
    });
    const listed = await api(app.url, "GET", "/api/keys", { token: login.body.token });
    expect(listed.body.data.map((key: { id: string }) => key.id)).toEqual([created.body.id]);
  });

  it("creates a key shown once, lists it without the secret, tracks use, and revokes it", async () => {
    const { token } = await signUp(app, "keys@example.com");
    const created = await api(app.url, "POST", "/api/keys", {
      token,
      body: { name: "ci", permissions: ["read", "manage"] },
    });
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    expect(key).toMatch(/^mp_live_[0-9A-Za-z]{32,}$/);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^key_/),
      key,
      name: "ci",
      permissions: ["read", "manage"],
      prefix: key.slice(0, 12),
      created_at: expect.any(String),
      expires_at: null,
      previous_valid_until: null,
    });

    const before = await api(app.url, "GET", "/api/keys", { token });
    expect(before.body.data).toEqual([{
      id: created.body.id,
      object: "api_key",
      name: "ci",
      permissions: ["read", "manage"],
      prefix: key.slice(0, 12),
      created_at: created.body.created_at,
      last_used_at: null,
      expires_at: null,
      previous_valid_until: null,
    }]);
    expect(JSON.stringify(before.body)).not.toContain(key.slice(12));

    const withKey = await api(app.url, "GET", "/api/keys", { token: key });
    expect(withKey.status).toBe(200);
    expect(withKey.body.data[0].last_used_at).toEqual(expect.any(String));

    const revoked = await api(app.url, "DELETE", `/api/keys/${created.body.id}`, { token });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ id: created.body.id, object: "api_key", deleted: true });

    const afterRevoke = await api(app.url, "GET", "/api/keys", { token: key });
    expect(afterRevoke.status).toBe(401);
    expectEnvelope(afterRevoke.body, "invalid_api_key", "invalid_request_error");
    expect((await api(app.url, "GET", "/api/keys", { token })).body.data).toEqual([]);
  });

  it("answers 401 invalid_api_key for missing, malformed and unknown keys", async () => {
    const cases = [
      await api(app.url, "GET", "/api/keys"),
      await api(app.url, "GET", "/api/keys", { headers: { authorization: "Basic abc" } }),
      await api(app.url, "GET", "/api/keys", { headers: { authorization: "Bearer" } }),
      await api(app.url, "GET", "/api/keys", { token: "sk-not-ours" }),
      await api(app.url, "GET", "/api/keys", { token: `mp_live_${"a".repeat(40)}` }),
      await api(app.url, "GET", "/api/keys", { token: `mp_sess_${"a".repeat(43)}` }),
    ];
    for (const response of cases) {
      expect(response.status).toBe(401);
      expectEnvelope(response.body, "invalid_api_key", "invalid_request_error");
      expect(response.headers.get("x-should-retry")).toBe("false");
    }
    expect(cases[0].body.error.message).toMatch(/didn't provide an API key/);
  });

  it("answers 403 insufficient_permissions naming the missing permission", async () => {
    const { token } = await signUp(app, "perms@example.com");
    const readOnly = (await api(app.url, "POST", "/api/keys", {
      token,
      body: { name: "ro", permissions: ["read"] },
    })).body.key;
    const manageOnly = (await api(app.url, "POST", "/api/keys", {
      token,
      body: { name: "mgr", permissions: ["manage"] },
    })).body.key;

    const create = await api(app.url, "POST", "/api/keys", {
      token: readOnly,
      body: { name: "x", permissions: ["read"] },
    });
    expect(create.status).toBe(403);
    expectEnvelope(create.body, "insufficient_permissions", "permission_error");
    expect(create.body.error.message).toContain("'manage'");

    const list = await api(app.url, "GET", "/api/keys", { token: manageOnly });
    expect(list.status).toBe(403);
    expect(list.body.error.message).toContain("'read'");

    // A key cannot mint a key stronger than itself.
    const escalate = await api(app.url, "POST", "/api/keys", {
      token: manageOnly,
      body: { name: "x", permissions: ["proxy"] },
    });
    expect(escalate.status).toBe(403);
    expect(escalate.body.error.message).toContain("'proxy'");
  });

  it("does not let one account revoke another account's key", async () => {
    const owner = await signUp(app, "owner@example.com");
    const other = await signUp(app, "other@example.com");
    const created = await api(app.url, "POST", "/api/keys", {
      token: owner.token,
      body: { name: "mine", permissions: ["read"] },
    });
    const attempt = await api(app.url, "DELETE", `/api/keys/${created.body.id}`, {
      token: other.token,
    });
    expect(attempt.status).toBe(404);
    expectEnvelope(attempt.body, "api_key_not_found");
    expect((await api(app.url, "GET", "/api/keys", { token: created.body.key })).status).toBe(200);
  });

  it("refuses bad bodies with a 400 naming the field and appends nothing", async () => {
    const { token } = await signUp(app, "bodies@example.com");
    const head = await headPosition(app);
    const cases: Array<[string, string, unknown, string | null]> = [
      ["/api/auth/signup", "POST", { email: 42, password: PASSWORD }, "email"],
      ["/api/auth/signup", "POST", { password: PASSWORD }, "email"],
      ["/api/auth/signup", "POST", {
        email: `${"a".repeat(10_240)}@example.com`,
        password: PASSWORD,
      }, "email"],
      ["/api/auth/signup", "POST", { email: "not-an-email", password: PASSWORD }, "email"],
      ["/api/auth/signup", "POST", { email: "new@example.com" }, "password"],
      ["/api/auth/signup", "POST", { email: "new@example.com", password: "short" }, "password"],
      [
        "/api/auth/signup",
        "POST",
        { email: "new@example.com", password: PASSWORD, admin: true },
        "admin",
      ],
      ["/api/auth/login", "POST", { email: "new@example.com", password: 12345678 }, "password"],
      ["/api/keys", "POST", { name: "k", permissions: ["read", "root"] }, "permissions"],
      ["/api/keys", "POST", { name: "k", permissions: "read" }, "permissions"],
      ["/api/keys", "POST", { name: "k", permissions: [] }, "permissions"],
      ["/api/keys", "POST", { permissions: ["read"] }, "name"],
      ["/api/keys", "POST", { name: 7, permissions: ["read"] }, "name"],
      ["/api/keys", "POST", "{not json", null],
      ["/api/auth/signup", "POST", "[1,2", null],
    ];
    for (const [path, method, body, param] of cases) {
      const response = await api(app.url, method, path, { token, body });
      expect({ path, body, status: response.status }).toEqual({ path, body, status: 400 });
      expect(response.body.error.type).toBe("invalid_request_error");
      expect(response.body.error.param).toBe(param);
    }
    expect(await headPosition(app)).toBe(head);
  });

  it("leaves no plaintext password, API key or session token in DATA_DIR", async () => {
    const secretPassword = "plaintext-canary-Pa55word!";
    const { token } = await signUp(app, "canary@example.com", secretPassword);
    const login = await api(app.url, "POST", "/api/auth/login", {
      body: { email: "canary@example.com", password: secretPassword },
    });
    const key = (await api(app.url, "POST", "/api/keys", {
      token,
      body: { name: "canary", permissions: ["read"] },
    })).body.key as string;
    expect((await api(app.url, "GET", "/api/keys", { token: key })).status).toBe(200);
    // Flush usage so every kind of auth event has been written.
    const { KeyUsageTracker } = await import("../../src/auth/key-usage.tracker.ts");
    await app.app.get(KeyUsageTracker).flush();
    await api(app.url, "GET", "/api/keys", { token });

    const files = readdirSync(app.dataDir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name));
    expect(files.some((file) => file.includes("read-models"))).toBe(true);
    expect(files.length).toBeGreaterThanOrEqual(2);
    const needles = [secretPassword, key, key.slice(8), token, login.body.token];
    for (const file of files) {
      const content = readFileSync(file).toString("latin1");
      for (const needle of needles) {
        expect({ file, found: content.includes(needle) }).toEqual({ file, found: false });
      }
    }
    // The scan is able to find things: the email is stored in plain text.
    expect(
      files.some((file) => readFileSync(file).toString("latin1").includes("canary@example.com")),
    ).toBe(
      true,
    );
  });
});
