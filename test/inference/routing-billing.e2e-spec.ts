import OpenAI from "openai";
import { INFERENCE_CHARGE_KIND } from "../../src/billing/inference-charges.projection.ts";
import { ledgerStream } from "../../src/billing/ledger.events.ts";
import { newEventId } from "../../src/common/ids.ts";
import { deploymentStream } from "../../src/deployments/deployment.events.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { PendingSettlements } from "../../src/inference/pending-settlements.ts";
import { ProjectionRunner } from "../../src/projections/projection-runner.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import { api, type TestApp } from "../support/test-app.ts";
import {
  balanceUsd,
  createTenant,
  inferenceEvents,
  rawStream,
  registerExternal,
  startGateway,
  type Tenant,
} from "./support.ts";

describe("routing, errors and per-request billing", () => {
  let gateway: TestApp;
  let sim: RunpodSimulator;
  let ollama: LocalUpstream;
  let tenant: Tenant;

  /** A pod deployment as the RunPod work will record it. */
  async function pod(
    accountId: string,
    id: string,
    name: string,
    model: string,
    started: boolean,
    stopped = false,
  ) {
    const store = gateway.app.get<EventStore>(EVENT_STORE);
    const at = new Date().toISOString();
    const events = [{
      id: newEventId(),
      type: "DeploymentRequested",
      data: {
        deploymentId: id,
        accountId,
        provider: "runpod",
        name,
        modelIdentifier: model,
        requestedAt: at,
      },
    }];
    if (started) {
      events.push({
        id: newEventId(),
        type: "PodStarted",
        data: { deploymentId: id, baseUrl: ollama.baseUrl, startedAt: at } as any,
      });
    }
    if (stopped) {
      events.push({
        id: newEventId(),
        type: "PodStopped",
        data: { deploymentId: id, reason: "user", stoppedAt: at } as any,
      });
    }
    const appended = await store.append(deploymentStream(id), events, {
      expectedRevision: "no_stream",
    });
    await gateway.app.get(ProjectionRunner).waitFor(appended.position, ["deployments"]);
  }

  beforeAll(async () => {
    sim = await startRunpodSimulator({ tokensPerSecond: 2_000, executionMs: 1, coldStartMs: 0 });
    ollama = await startLocalUpstream("ollama");
    gateway = await startGateway({
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_API_KEY: "rp-secret-key-123",
      // The pods below are synthetic: keep the pod reconciler and metering out of this suite.
      RECONCILE_INTERVAL_MS: "3600000",
      METERING_INTERVAL_MS: "3600000",
    });
    tenant = await createTenant(gateway, "1");
    await pod(tenant.accountId, "pod-running-1", "mistral", "mistral:7b", true);
    await pod(tenant.accountId, "pod-stopped-1", "gemma", "gemma3:7b", true, true);
  });

  afterAll(async () => {
    await gateway?.close();
    await sim?.close();
    await ollama?.close();
  });

  it("routes a running pod by name, without a per-request charge", async () => {
    const before = await balanceUsd(gateway, tenant.accountId);
    const completion = await tenant.client.chat.completions.create({
      model: "mistral",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.system_fingerprint).toBe("modelpilot-pod-running-1");
    expect((completion as any).x_modelpilot.deployment_id).toBe("pod-running-1");
    expect(await balanceUsd(gateway, tenant.accountId)).toBe(before);
  });

  it("answers 404 model_not_found with available_models for an unknown model", async () => {
    const response = await api(gateway.url, "POST", "/v1/chat/completions", {
      token: tenant.key,
      body: { model: "nope", messages: [{ role: "user", content: "x" }] },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(response.body.error).toEqual({
      message: "No active deployment found for model 'nope'",
      type: "invalid_request_error",
      param: "model",
      code: "model_not_found",
    });
    expect(response.body.available_models).toEqual(
      expect.arrayContaining(["mistral", "mistral:7b", "qwen3-8b"]),
    );
    await expect(
      tenant.client.chat.completions.create({
        model: "nope",
        messages: [{ role: "user", content: "x" }],
      }),
    )
      .rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("answers 400 model_not_available for a stopped deployment", async () => {
    const response = await api(gateway.url, "POST", "/v1/chat/completions", {
      token: tenant.key,
      body: { model: "gemma", messages: [{ role: "user", content: "x" }] },
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toEqual({
      message: "Model 'gemma' deployment is not running (status: stopped)",
      type: "invalid_request_error",
      param: "model",
      code: "model_not_available",
    });
  });

  it("answers 400 invalid_model_type for an image model", async () => {
    const response = await api(gateway.url, "POST", "/api/v1/chat/completions", {
      token: tenant.key,
      body: { model: "flux-dev", messages: [{ role: "user", content: "x" }] },
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toEqual({
      message: "Model 'flux-dev' is not a text model and cannot be used with chat completions",
      type: "invalid_request_error",
      param: "model",
      code: "invalid_model_type",
    });
  });

  it.each([
    [{ messages: [] }, "messages"],
    [{ messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"],
    [{ temperature: 3 }, "temperature"],
    [{ top_p: 1.5 }, "top_p"],
    [{ max_tokens: 0 }, "max_tokens"],
    [{ n: 0 }, "n"],
    [{ stop: ["a", "b", "c", "d", "e"] }, "stop"],
    [{ stream: false, stream_options: { include_usage: true } }, "stream_options"],
    [{ stream: true, temperature: -1 }, "temperature"],
  ])("refuses %j before any upstream call with a 400 naming the param", async (patch, param) => {
    const sent = ollama.requests.length;
    const response = await api(gateway.url, "POST", "/v1/chat/completions", {
      token: tenant.key,
      body: { model: "mistral", messages: [{ role: "user", content: "x" }], ...patch },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(response.body.error.param).toBe(param);
    expect(response.body.error.type).toBe("invalid_request_error");
    expect(ollama.requests.length).toBe(sent);
  });

  it("refuses a key without the proxy permission", async () => {
    const key = await api(gateway.url, "POST", "/api/keys", {
      token: tenant.key,
      body: { name: "ro", permissions: ["read"] },
    });
    const client = new OpenAI({
      apiKey: key.body.key,
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    });
    await expect(
      client.chat.completions.create({
        model: "mistral",
        messages: [{ role: "user", content: "x" }],
      }),
    )
      .rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it("charges a serverless text model once per request from the catalogue (qwen3-8b $0.01), streamed or not", async () => {
    const start = await balanceUsd(gateway, tenant.accountId);
    const completion = await tenant.client.chat.completions.create({
      model: "qwen3-8b",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.model).toBe("qwen3-8b");
    expect(completion.system_fingerprint).toBe("modelpilot-qwen3-8b");
    expect(await balanceUsd(gateway, tenant.accountId)).toBeCloseTo(start - 0.01, 6);
    const stream = await tenant.client.chat.completions.create({
      model: "qwen3-8b",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "hi" }],
    });
    let text = "";
    let usage: any;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(Number.isInteger(usage.completion_tokens)).toBe(true);
    expect(await balanceUsd(gateway, tenant.accountId)).toBeCloseTo(start - 0.02, 6);
    const charged = (await inferenceEvents(gateway)).filter((event) =>
      event.data.model === "qwen3-8b"
    );
    expect(charged.map((event) => event.data.chargedMicros)).toEqual([10_000, 10_000]);
    // The RunPod key goes to RunPod only, never back to the client.
    expect(sim.requests.at(-1)!.authorization).toBe("Bearer rp-secret-key-123");
    expect(JSON.stringify(completion)).not.toContain("rp-secret-key-123");
  });

  it("records on InferenceCompleted the ledger key its charge settled (what the charge reconciler uses)", async () => {
    const payer = await createTenant(gateway, "1");
    await payer.client.chat.completions.create({
      model: "qwen3-8b",
      messages: [{ role: "user", content: "hi" }],
    });
    await gateway.app.get(PendingSettlements).drain();
    const completed = (await inferenceEvents(gateway)).filter((event) =>
      event.type === "InferenceCompleted" && event.data.accountId === payer.accountId
    );
    expect(completed.map((event) => event.data.chargedMicros)).toEqual([10_000]);
    const charges = (await gateway.app.get<EventStore>(EVENT_STORE).readStream(
      ledgerStream(payer.accountId),
    )).filter((event) => event.type === "CreditsCharged");
    expect(charges).toHaveLength(1);
    expect(completed[0].data.reservationId).toBe(charges[0].data.chargeId);
    expect(charges[0].data.kind).toBe(INFERENCE_CHARGE_KIND);
  });

  it("never charges a request that fails upstream, and records InferenceFailed", async () => {
    const start = await balanceUsd(gateway, tenant.accountId);
    sim.failNext("/openai/v1/chat/completions", 500, 1, { detail: "worker crashed" });
    const failure = await api(gateway.url, "POST", "/v1/chat/completions", {
      token: tenant.key,
      body: { model: "qwen3-8b", messages: [{ role: "user", content: "hi" }] },
    });
    expect(failure.status).toBe(500);
    expect(failure.body.error.message).toBe("worker crashed");
    expect(typeof failure.body.error.type).toBe("string");
    expect(await balanceUsd(gateway, tenant.accountId)).toBeCloseTo(start, 6);
    const failed = (await inferenceEvents(gateway)).filter((event) =>
      event.type === "InferenceFailed"
    );
    expect(failed.at(-1)!.data).toMatchObject({ model: "qwen3-8b", status: 500, chargedMicros: 0 });
  });

  it("refuses with 402 when the account cannot pay, before calling the upstream", async () => {
    const poor = await createTenant(gateway);
    const before = sim.requests.length;
    const response = await api(gateway.url, "POST", "/v1/chat/completions", {
      token: poor.key,
      body: { model: "qwen3-8b", messages: [{ role: "user", content: "hi" }], stream: true },
    });
    expect(response.status).toBe(402);
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(response.body.error.code).toBe("insufficient_credits");
    expect(sim.requests.length).toBe(before);
  });

  it("maps an unreachable upstream to 502 upstream_unavailable and a slow one to 504 upstream_timeout", async () => {
    const dead = await startLocalUpstream("vllm");
    const url = dead.baseUrl;
    await dead.close();
    await registerExternal(gateway, tenant, {
      name: "dead",
      model: "Qwen/Qwen3-8B",
      base_url: url,
    });
    const unreachable = await api(gateway.url, "POST", "/v1/chat/completions", {
      token: tenant.key,
      body: { model: "dead", messages: [{ role: "user", content: "x" }] },
    });
    expect(unreachable.status).toBe(502);
    expect(unreachable.body.error.code).toBe("upstream_unavailable");

    const slowGateway = await startGateway({ UPSTREAM_FIRST_BYTE_TIMEOUT_MS: "100" });
    const slow = await startLocalUpstream("vllm", { latencyMs: 1_000 });
    try {
      const other = await createTenant(slowGateway);
      await registerExternal(slowGateway, other, {
        name: "slow",
        model: "Qwen/Qwen3-8B",
        base_url: slow.baseUrl,
      });
      const timedOut = await rawStream(`${slowGateway.url}/v1/chat/completions`, other.key, {
        model: "slow",
        stream: true,
        messages: [{ role: "user", content: "x" }],
      });
      expect(timedOut.status).toBe(504);
      expect(JSON.parse(timedOut.text).error.code).toBe("upstream_timeout");
    } finally {
      await slowGateway.close();
      await slow.close();
    }
  });

  it("rewrites upstream errors into the envelope with the upstream status kept", async () => {
    const vllm = await startLocalUpstream("vllm");
    try {
      await registerExternal(gateway, tenant, {
        name: "vllm-errors",
        model: "Qwen/Qwen3-8B",
        base_url: vllm.baseUrl,
      });
      vllm.failNext("/chat/completions", {
        status: 400,
        body: {
          object: "error",
          message: "This model's maximum context length is 32768 tokens",
          type: "BadRequestError",
          param: "input_tokens",
          code: 400,
        },
      });
      const response = await api(gateway.url, "POST", "/v1/chat/completions", {
        token: tenant.key,
        body: { model: "vllm-errors", messages: [{ role: "user", content: "x" }] },
      });
      expect(response.status).toBe(400);
      expect(response.body.error).toEqual({
        message: "This model's maximum context length is 32768 tokens",
        type: "invalid_request_error",
        param: "input_tokens",
        code: null,
      });
    } finally {
      await vllm.close();
    }
  });
});
