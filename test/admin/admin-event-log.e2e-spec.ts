import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

describe("admin event log and projections API", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => await app.close());

  it("refuses callers without the admin key", async () => {
    const anonymous = await api(app.url, "GET", "/admin/projections");
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.type).toEqual(expect.any(String));
    const wrong = await api(app.url, "GET", "/admin/events", { token: "not-the-admin-key-at-all" });
    expect(wrong.status).toBe(401);
  });

  it("browses $all with an exclusive cursor and filters by stream prefix", async () => {
    const created = [];
    for (const email of ["ops-a@example.com", "ops-b@example.com"]) {
      const response = await api(app.url, "POST", "/admin/accounts", {
        token: TEST_ADMIN_KEY,
        body: { email },
      });
      expect(response.status).toBe(201);
      created.push(response.body.id);
    }
    const all = await api(app.url, "GET", "/admin/events?limit=1000", { token: TEST_ADMIN_KEY });
    expect(all.status).toBe(200);
    const positions = all.body.data.map((event: { position: number }) => event.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(new Set(positions).size).toBe(positions.length);

    const first = await api(app.url, "GET", "/admin/events?limit=1", { token: TEST_ADMIN_KEY });
    expect(first.body.data).toHaveLength(1);
    expect(first.body.has_more).toBe(true);
    const next = await api(app.url, "GET", `/admin/events?limit=1&after=${first.body.next_after}`, {
      token: TEST_ADMIN_KEY,
    });
    expect(next.body.data[0].position).toBeGreaterThan(first.body.data[0].position);

    const accountEvents = await api(app.url, "GET", "/admin/events?stream_prefix=account-", {
      token: TEST_ADMIN_KEY,
    });
    expect(accountEvents.body.data.length).toBeGreaterThanOrEqual(2);
    for (const event of accountEvents.body.data) {
      expect(event.stream.startsWith("account-")).toBe(true);
    }
    const stream = accountEvents.body.data[0].stream;
    const read = await api(app.url, "GET", `/admin/streams/${stream}`, { token: TEST_ADMIN_KEY });
    expect(read.status).toBe(200);
    expect(read.body.data[0].revision).toBe(0);
    expect(read.body.data[0].metadata.actor).toBe("admin");
  });

  it("never hands out a password hash, even to the operator", async () => {
    const signup = await api(app.url, "POST", "/api/auth/signup", {
      body: { email: "hash@example.com", password: "correct horse battery staple" },
    });
    expect(signup.status).toBe(201);
    const stream = await api(app.url, "GET", `/admin/streams/account-${signup.body.account_id}`, {
      token: TEST_ADMIN_KEY,
    });
    const passwordSet = stream.body.data.find((event: { type: string }) =>
      event.type === "PasswordSet"
    );
    expect(passwordSet.data.passwordHash).toBe("[redacted]");
    expect(JSON.stringify(stream.body)).not.toContain("scrypt$");
  });

  it("validates its query parameters", async () => {
    const badLimit = await api(app.url, "GET", "/admin/events?limit=0", { token: TEST_ADMIN_KEY });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.param).toBe("limit");
    const badCursor = await api(app.url, "GET", "/admin/events?after=-4", {
      token: TEST_ADMIN_KEY,
    });
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error.param).toBe("after");
    const missing = await api(app.url, "GET", "/admin/streams/account-nope", {
      token: TEST_ADMIN_KEY,
    });
    expect(missing.status).toBe(404);
  });

  it("lists projections with lag and rebuilds one to the same checkpoint", async () => {
    const listed = await api(app.url, "GET", "/admin/projections", { token: TEST_ADMIN_KEY });
    expect(listed.status).toBe(200);
    expect(listed.body.data.length).toBeGreaterThan(0);
    const target = listed.body.data[0];
    const rebuilt = await api(app.url, "POST", `/admin/projections/${target.name}/rebuild`, {
      token: TEST_ADMIN_KEY,
    });
    expect(rebuilt.status).toBe(200);
    expect(rebuilt.body.state).toBe("live");
    expect(rebuilt.body.checkpoint).toBeGreaterThanOrEqual(target.checkpoint);
    const unknown = await api(app.url, "POST", "/admin/projections/nope/rebuild", {
      token: TEST_ADMIN_KEY,
    });
    expect(unknown.status).toBe(404);
  });
});
