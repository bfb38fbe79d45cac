import OpenAI from "openai";
import type { ManualClock } from "../../src/common/clock.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import {
  api,
  createGroup,
  createTenant,
  external,
  inferenceEvents,
  servedBy,
  settledBalanceMicros,
  startGroupGateway,
  type Tenant,
  wallClock,
} from "./support.ts";

const PROMPT = [{ role: "user" as const, content: "hi" }];

describe("model groups: routing and failover", () => {
  let gateway: TestApp;
  let sim: RunpodSimulator;
  let clock: ManualClock;
  let tenant: Tenant;
  let a: LocalUpstream;
  let b: LocalUpstream;
  let aId: string;
  let bId: string;

  beforeAll(async () => {
    sim = await startRunpodSimulator({ tokensPerSecond: 2_000, executionMs: 1, coldStartMs: 0 });
    clock = wallClock();
    gateway = await startGroupGateway(
      {
        RUNPOD_API_URL: sim.serverlessUrl,
        RUNPOD_API_KEY: "rp-key",
        MODEL_GROUP_COOLDOWN_MS: "5000",
      },
      { clock },
    );
    tenant = await createTenant(gateway, "5");
    a = await startLocalUpstream("vllm");
    b = await startLocalUpstream("vllm");
    aId = await external(gateway, tenant, "member-a", a);
    bId = await external(gateway, tenant, "member-b", b);
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([a?.close(), b?.close(), sim?.close()]);
  });

  it("fallback: the first member serves while it can; the group and member are recorded", async () => {
    await createGroup(gateway, tenant, {
      name: "fb",
      members: ["member-a", "member-b"],
      strategy: "fallback",
    });
    const completion = await tenant.client.chat.completions.create({
      model: "fb",
      messages: PROMPT,
    });
    expect(completion.model).toBe("fb");
    expect((completion as any).x_modelpilot.deployment_id).toBe(aId);
    expect(await servedBy(tenant, "fb")).toBe(aId);
    const events = (await inferenceEvents(gateway)).filter((event) => event.data.model === "fb");
    expect(events.at(-1)!.type).toBe("InferenceCompleted");
    expect(events.at(-1)!.data).toMatchObject({
      groupName: "fb",
      groupId: expect.stringMatching(/^grp_/),
      memberDeploymentId: aId,
      deploymentId: aId,
      routeKind: "external",
    });
  });

  it("round_robin: members take turns", async () => {
    await createGroup(gateway, tenant, {
      name: "rr",
      members: ["member-a", "member-b"],
      strategy: "round_robin",
    });
    const served = [];
    for (let i = 0; i < 4; i++) served.push(await servedBy(tenant, "rr"));
    expect(served).toEqual([aId, bId, aId, bId]);
  });

  it("weighted: shares follow the weights exactly over a cycle, interleaved", async () => {
    await createGroup(gateway, tenant, {
      name: "wt",
      members: ["member-a", "member-b"],
      strategy: "weighted",
      weights: [3, 1],
    });
    const served = [];
    for (let i = 0; i < 8; i++) served.push(await servedBy(tenant, "wt"));
    expect(served.filter((id) => id === aId)).toHaveLength(6);
    expect(served.filter((id) => id === bId)).toHaveLength(2);
  });

  it("least_busy: a member with a request in flight is passed over for an idle one", async () => {
    await createGroup(gateway, tenant, {
      name: "lb",
      members: ["member-a", "member-b"],
      strategy: "least_busy",
    });
    a.knobs.latencyMs = 400;
    try {
      const before = a.requests.length;
      const slow = servedBy(tenant, "lb");
      while (a.requests.length === before) await new Promise((r) => setTimeout(r, 5));
      // A holds one request: the next goes to B; once A is free again, ties keep the group order.
      expect(await servedBy(tenant, "lb")).toBe(bId);
      expect(await slow).toBe(aId);
    } finally {
      a.knobs.latencyMs = 0;
    }
    expect(await servedBy(tenant, "lb")).toBe(aId);
  });

  it("fails over on a 429 and keeps the member cooling down for its Retry-After", async () => {
    await createGroup(gateway, tenant, {
      name: "rl",
      members: ["member-a", "member-b"],
      strategy: "fallback",
    });
    a.failNext("/chat/completions", {
      status: 429,
      headers: { "retry-after": "30" },
      body: { error: { message: "slow down", type: "rate_limit_error" } },
    });
    expect(await servedBy(tenant, "rl")).toBe(bId);
    const failed = (await inferenceEvents(gateway)).filter((event) => event.data.model === "rl");
    expect(failed.at(-1)!.data).toMatchObject({ memberDeploymentId: bId, failedOverFrom: [aId] });

    // Within the 30 s A is not even tried.
    const seenByA = a.requests.length;
    clock.advance(29_000);
    expect(await servedBy(tenant, "rl")).toBe(bId);
    expect(a.requests.length).toBe(seenByA);
    clock.advance(2_000);
    expect(await servedBy(tenant, "rl")).toBe(aId);
  });

  it("fails over on a 5xx and on a refused connection before the first byte, streamed or not", async () => {
    await createGroup(gateway, tenant, {
      name: "five",
      members: ["member-a", "member-b"],
      strategy: "fallback",
    });
    a.failNext("/chat/completions", { status: 503, body: { error: "overloaded" } });
    expect(await servedBy(tenant, "five")).toBe(bId);
    clock.advance(6_000); // past MODEL_GROUP_COOLDOWN_MS

    a.failNext("/chat/completions", { status: 500, body: { error: "boom" } });
    const stream = await tenant.client.chat.completions.create({
      model: "five",
      messages: PROMPT,
      stream: true,
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).toContain("Hello from vllm");
    const last = (await inferenceEvents(gateway)).filter((event) => event.data.model === "five")
      .at(-1)!;
    expect(last.data).toMatchObject({
      stream: true,
      memberDeploymentId: bId,
      failedOverFrom: [aId],
    });
    clock.advance(6_000);

    // A member that refuses connections (its server is gone).
    const gone = await startLocalUpstream("vllm");
    await external(gateway, tenant, "member-gone", gone);
    await gone.close();
    await createGroup(gateway, tenant, {
      name: "refused",
      members: ["member-gone", "member-b"],
      strategy: "fallback",
    });
    expect(await servedBy(tenant, "refused")).toBe(bId);
  });

  it("answers the last member's error when every member fails, then 503 with Retry-After while they cool down", async () => {
    await createGroup(gateway, tenant, {
      name: "allfail",
      members: ["member-a", "member-b"],
      strategy: "fallback",
    });
    a.failNext("/chat/completions", { status: 502, body: { error: "a down" } });
    b.failNext("/chat/completions", { status: 503, body: { error: "b down" } });
    const error = await tenant.client.chat.completions.create({
      model: "allfail",
      messages: PROMPT,
    })
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.status).toBe(503);
    // Both now cool down: the group answers 503 with a Retry-After at once, without trying them.
    const seen = a.requests.length + b.requests.length;
    const refused = await api(gateway.url, "POST", "/v1/chat/completions", {
      token: tenant.key,
      body: { model: "allfail", messages: PROMPT },
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe("model_group_unavailable");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(a.requests.length + b.requests.length).toBe(seen);
    clock.advance(6_000);
  });

  it("never fails over once bytes reached the client: a stream that breaks is not retried", async () => {
    await createGroup(gateway, tenant, {
      name: "midway",
      members: ["member-a", "member-b"],
      strategy: "fallback",
    });
    const seenByB = b.requests.length;
    a.knobs.dieAfterTokens = 2;
    try {
      const stream = await tenant.client.chat.completions.create({
        model: "midway",
        messages: PROMPT,
        stream: true,
      });
      let text = "";
      const error = await (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      })().catch((caught) => caught);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect(text.length).toBeGreaterThan(0);
    } finally {
      a.knobs.dieAfterTokens = null;
    }
    expect(b.requests.length).toBe(seenByB);
    const last = (await inferenceEvents(gateway)).filter((event) => event.data.model === "midway")
      .at(-1)!;
    expect(last.type).toBe("InferenceFailed");
    expect(last.data).toMatchObject({ midStream: true, memberDeploymentId: aId });
  });

  it("bills what the member that served costs: the catalogue price, or nothing for a free member", async () => {
    await createGroup(gateway, tenant, {
      name: "priced",
      members: ["qwen3-8b", "member-b"],
      strategy: "fallback",
    });
    const start = await settledBalanceMicros(gateway, tenant);
    expect(await servedBy(tenant, "priced")).toBe("qwen3-8b");
    expect(await settledBalanceMicros(gateway, tenant)).toBe(start - 10_000);

    // The priced member fails before the first byte: its hold is released, the free one serves.
    sim.failNext("/openai/v1/chat/completions", 500, 1, { detail: "worker crashed" });
    expect(await servedBy(tenant, "priced")).toBe(bId);
    expect(await settledBalanceMicros(gateway, tenant)).toBe(start - 10_000);
    clock.advance(6_000);

    // The free member fails first: the priced one serves and is charged exactly once.
    await createGroup(gateway, tenant, {
      name: "free-first",
      members: ["member-b", "qwen3-8b"],
      strategy: "fallback",
    });
    b.failNext("/chat/completions", { status: 500, body: { error: "down" } });
    expect(await servedBy(tenant, "free-first")).toBe("qwen3-8b");
    expect(await settledBalanceMicros(gateway, tenant)).toBe(start - 20_000);
    const events = await inferenceEvents(gateway);
    const priced = events.filter((event) => event.data.model === "priced");
    expect(priced.map((event) => event.data.chargedMicros)).toEqual([10_000, 0]);
    const freeFirst = events.filter((event) => event.data.model === "free-first");
    expect(freeFirst.map((event) => [event.type, event.data.chargedMicros])).toEqual([
      ["InferenceCompleted", 10_000],
    ]);
    expect(freeFirst[0].data).toMatchObject({ routeKind: "serverless", failedOverFrom: [bId] });
    clock.advance(6_000);
  });

  it("lists groups in /v1/models beside deployments and catalogue models", async () => {
    const models = await tenant.client.models.list();
    const ids = models.data.map((model) => model.id);
    expect(ids).toEqual(expect.arrayContaining(["fb", "rr", "member-a", "qwen3-8b"]));
    expect(models.data.find((model) => model.id === "fb")!.owned_by).toBe("modelpilot-group");
    expect((await tenant.client.models.retrieve("rr")).id).toBe("rr");
  });
});
