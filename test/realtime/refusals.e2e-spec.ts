import { createAccountWithKey, createApiKey, grantUsd, randomEmail } from "../support/accounts.ts";
import { connectRealtime, UpgradeRefused } from "../support/realtime-client.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import {
  type RealtimeUpstream,
  startRealtimeUpstream,
} from "../support/upstreams/realtime-upstream.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

/**
 * Every refusal of `/v1/realtime` happens before the upgrade, as an HTTP answer in the OpenAI
 * envelope (real upgrade attempts with `ws`), and appends nothing; deployments that declare
 * `"realtime": true` are probed.
 */
const KEY_LIMIT = 30;

describe("realtime refusals", () => {
  let sim: RunpodSimulator;
  let upstream: RealtimeUpstream;
  let app: TestApp;

  beforeAll(async () => {
    sim = await startRunpodSimulator({ apiKey: "sim-runpod-key" });
    upstream = await startRealtimeUpstream({ apiKey: "upstream-own-key" });
    app = await startTestApp({
      env: {
        RUNPOD_LB_URL: sim.lbUrlTemplate,
        RUNPOD_API_KEY: "sim-runpod-key",
        ALLOW_PRIVATE_UPSTREAMS: "true",
        MAX_CONCURRENT_REQUESTS_PER_ACCOUNT: "2",
        RATE_LIMIT_PER_KEY_PER_MINUTE: String(KEY_LIMIT),
        UPSTREAM_CONNECT_TIMEOUT_MS: "2000",
        REALTIME_PROBE_TIMEOUT_MS: "2000",
      },
    });
  });

  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await sim?.close();
  });

  const wsUrl = (model: string, path = "/v1/realtime") =>
    `${app.url.replace(/^http/, "ws")}${path}?model=${encodeURIComponent(model)}`;

  async function refusal(
    model: string,
    headers: Record<string, string> = {},
    protocols?: string[],
    path?: string,
  ): Promise<{ status: number; body: any }> {
    const client = connectRealtime(wsUrl(model, path), { headers, protocols });
    try {
      await client.opened;
    } catch (error) {
      if (!(error instanceof UpgradeRefused)) throw error;
      return { status: error.status, body: JSON.parse(error.body) };
    }
    client.close();
    throw new Error("the upgrade was accepted");
  }

  async function registerExternal(key: string, body: Record<string, unknown>) {
    return await api(app.url, "POST", "/api/deployments", {
      token: key,
      body: {
        provider: "external",
        base_url: upstream.baseUrl,
        api_key: "upstream-own-key",
        ...body,
      },
    });
  }

  it("answers 401 without a key or with a wrong one, either way of sending it", async () => {
    const none = await refusal("s2s-realtime");
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({
      type: "invalid_request_error",
      code: "invalid_api_key",
    });
    expect(
      (await refusal("s2s-realtime", { authorization: "Bearer mp_live_wrongwrongwrong" })).status,
    )
      .toBe(401);
    expect(
      (await refusal("s2s-realtime", {}, ["realtime", "openai-insecure-api-key.mp_live_nope"]))
        .status,
    ).toBe(401);
  });

  it("answers 403 to a key without the proxy permission", async () => {
    const account = await createAccountWithKey(app.url, randomEmail("rt-403"));
    const readOnly = await createApiKey(app.url, account.accountId, { permissions: ["read"] });
    const refused = await refusal("s2s-realtime", { authorization: `Bearer ${readOnly}` });
    expect(refused.status).toBe(403);
    expect(refused.body.error.type).toBe("permission_error");
  });

  it("answers 404 for an unknown model and 400 for a missing one or one that is not realtime", async () => {
    const { key } = await createAccountWithKey(app.url, randomEmail("rt-404"));
    const auth = { authorization: `Bearer ${key}` };
    const unknown = await refusal("no-such-model", auth);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: "model_not_found", param: "model" });
    const missing = await refusal("", auth);
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({
      code: "missing_required_parameter",
      param: "model",
    });
    // A catalogue text model, and an external upstream registered without `realtime: true`.
    const text = await refusal("qwen3-8b", auth);
    expect(text.status).toBe(400);
    expect(text.body.error).toMatchObject({ code: "model_not_realtime", param: "model" });
    expect((await registerExternal(key, { name: "plain", model: "m" })).status).toBe(201);
    expect((await refusal("plain", auth)).body.error.code).toBe("model_not_realtime");
  });

  it("answers 402 when the account cannot cover the opening hold", async () => {
    const { key } = await createAccountWithKey(app.url, randomEmail("rt-402"));
    const refused = await refusal("s2s-realtime", { authorization: `Bearer ${key}` });
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({ code: "insufficient_credits" });
  });

  it("answers 429 past the key's rate limit and past the account's concurrency", async () => {
    const account = await createAccountWithKey(app.url, randomEmail("rt-429"));
    await grantUsd(app.url, account.accountId, 5);
    const auth = { authorization: `Bearer ${account.key}` };
    // Sessions hold concurrency slots: two are open, the third is refused.
    const open = [connectRealtime(wsUrl("s2s-realtime"), { headers: auth })];
    open.push(connectRealtime(wsUrl("s2s-realtime"), { headers: auth }));
    await Promise.all(open.map((client) => client.opened));
    const busy = await refusal("s2s-realtime", auth);
    expect(busy.status).toBe(429);
    expect(busy.body.error).toMatchObject({ code: "concurrency_limit_exceeded" });
    for (const client of open) client.close(1000);
    await Promise.all(open.map((client) => client.closed));

    const other = await createApiKey(app.url, account.accountId);
    const statuses: number[] = [];
    for (let attempt = 0; attempt <= KEY_LIMIT; attempt++) {
      statuses.push((await refusal("no-such-model", { authorization: `Bearer ${other}` })).status);
    }
    expect(statuses.slice(0, KEY_LIMIT).every((status) => status === 404)).toBe(true);
    expect(statuses[KEY_LIMIT]).toBe(429);
  });

  it("answers 502 when the upstream refuses the socket, and 426 to a plain GET", async () => {
    const account = await createAccountWithKey(app.url, randomEmail("rt-502"));
    await grantUsd(app.url, account.accountId, 5);
    const auth = { authorization: `Bearer ${account.key}` };
    sim.failNext("/lb/s2s-realtime/v1/realtime", 503);
    const failed = await refusal("s2s-realtime", auth);
    expect(failed.status).toBe(502);
    expect(failed.body.error).toMatchObject({ code: "realtime_upstream_unavailable" });
    const plain = await api(app.url, "GET", "/v1/realtime?model=s2s-realtime", {
      token: account.key,
    });
    expect(plain.status).toBe(426);
    expect(plain.body.error.code).toBe("upgrade_required");
    const elsewhere = await refusal("s2s-realtime", auth, undefined, "/v1/models");
    expect(elsewhere.status).toBe(404);
    // Nothing of the refused sessions was recorded, and their holds were given back.
    const balance = await api(app.url, "GET", "/api/billing/balance", { token: account.key });
    expect(balance.body.available_usd).toBe(5);
  });

  it("appends nothing for a refusal", async () => {
    const before = await api(app.url, "GET", "/admin/events?limit=1000&stream_prefix=realtime-", {
      token: TEST_ADMIN_KEY,
    });
    const { key } = await createAccountWithKey(app.url, randomEmail("rt-none"));
    await refusal("s2s-realtime", { authorization: `Bearer ${key}` }); // 402
    await refusal("no-such-model", { authorization: `Bearer ${key}` }); // 404
    const after = await api(app.url, "GET", "/admin/events?limit=1000&stream_prefix=realtime-", {
      token: TEST_ADMIN_KEY,
    });
    expect(after.body.data.length).toBe(before.body.data.length);
  });

  it("probes a deployment declared realtime, and routes it with the upstream's own key", async () => {
    const account = await createAccountWithKey(app.url, randomEmail("rt-probe"));
    // Wrong upstream key: the probe fails and nothing is registered.
    const refused = await registerExternal(account.key, {
      name: "voice-bad",
      model: "voice",
      api_key: "not-the-upstream-key",
      realtime: true,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: "realtime_probe_failed", param: "realtime" });
    expect(
      (await registerExternal(account.key, { name: "voice", model: "voice", realtime: true }))
        .status,
    )
      .toBe(201);
    const client = connectRealtime(wsUrl("voice"), {
      protocols: ["realtime", `openai-insecure-api-key.${account.key}`],
    });
    await client.opened;
    // `realtime` selected; the key protocol never echoed.
    expect(client.protocol()).toBe("realtime");
    await client.next("session.created");
    const done = await client.ask("hi");
    expect(done.response.status).toBe("completed");
    const last = upstream.upgrades.at(-1)!;
    expect(last.authorization).toBe("Bearer upstream-own-key");
    expect(last.protocols ?? "").not.toContain(account.key);
    expect(last.model).toBe("voice");
    client.close(4000, "client done");
    await client.closed;
    // The client's own close code reaches the upstream.
    const deadline = Date.now() + 5_000;
    while (!upstream.closes.some((close) => close.code === 4000) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(upstream.closes.map((close) => close.code)).toContain(4000);
  });
});
