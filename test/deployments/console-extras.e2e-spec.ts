import { ManualClock } from "../../src/common/clock.ts";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import { createApiKey } from "../support/accounts.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  api,
  chat,
  chatError,
  clientFor,
  createTenant,
  deploy,
  meteringOf,
  startGateway,
  startSim,
  streamEvents,
  type Tenant,
  waitForStatus,
} from "./support.ts";

const OLD_KEY = "upstream-key-old-0123456789";
const NEW_KEY = "upstream-key-new-9876543210";

describe("external upstreams: delete and replace the key", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let upstream: LocalUpstream;
  let tenant: Tenant;

  beforeAll(async () => {
    sim = await startSim();
    gateway = await startGateway(sim);
    upstream = await startLocalUpstream("ollama", { apiKey: OLD_KEY });
    tenant = await createTenant(gateway, 1);
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await sim?.close();
  });

  async function register(name: string, owner = tenant) {
    return await deploy(gateway, owner, {
      provider: "external",
      name,
      model: "mistral:7b",
      base_url: upstream.baseUrl,
      api_key: OLD_KEY,
    });
  }

  const replaceKey = (id: string, body: unknown, token = tenant.key) =>
    api(gateway.url, "PUT", `/api/deployments/${id}/api-key`, { token, body });

  it("replaces the key the upstream sees, and never shows it", async () => {
    const created = await register("rekeyed");
    expect(created.status).toBe(201);
    const client = clientFor(gateway, tenant);
    await chat(client, "rekeyed");
    expect(upstream.requests.at(-1)!.headers.authorization).toBe(`Bearer ${OLD_KEY}`);

    upstream.knobs.apiKey = NEW_KEY;
    const replaced = await replaceKey(created.body.id, { api_key: NEW_KEY });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ id: created.body.id, has_api_key: true });
    expect(JSON.stringify(replaced.body)).not.toContain(NEW_KEY);
    expect(await chat(client, "rekeyed")).toContain("Hello from ollama");
    expect(upstream.requests.at(-1)!.headers.authorization).toBe(`Bearer ${NEW_KEY}`);

    const events = await streamEvents(gateway, created.body.id);
    const event = events.find((e) => e.type === "ExternalUpstreamKeyReplaced")!;
    expect(event.data.apiKeyCiphertext).toMatch(/^v1:/);
    expect(JSON.stringify(events.map((e) => e.data))).not.toContain(NEW_KEY);
    upstream.knobs.apiKey = OLD_KEY;
  });

  it("refuses a bad key body naming the field, and changes nothing", async () => {
    const created = await register("rekey-refusals");
    const before = (await streamEvents(gateway, created.body.id)).length;
    for (
      const [body, param] of [
        [{}, "api_key"],
        [{ api_key: "" }, "api_key"],
        [{ api_key: 42 }, "api_key"],
        [{ api_key: "x".repeat(4097) }, "api_key"],
        [{ api_key: NEW_KEY, base_url: "http://elsewhere" }, "base_url"],
        [[NEW_KEY], "api_key"],
      ] as const
    ) {
      const refused = await replaceKey(created.body.id, body);
      expect(refused.status).toBe(400);
      expect(refused.body.error.param).toBe(param);
    }
    expect((await streamEvents(gateway, created.body.id)).length).toBe(before);
  });

  it("deletes an external upstream: not listed, not routed to, and its name free again", async () => {
    const created = await register("doomed");
    const client = clientFor(gateway, tenant);
    await chat(client, "doomed");

    const deleted = await api(gateway.url, "DELETE", `/api/deployments/${created.body.id}`, {
      token: tenant.key,
    });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({
      id: created.body.id,
      provider: "external",
      status: "terminated",
      deleted: true,
      has_api_key: false,
    });
    const list = await api(gateway.url, "GET", "/api/deployments", { token: tenant.key });
    expect(list.body.data.map((d: { id: string }) => d.id)).not.toContain(created.body.id);
    const requestsBefore = upstream.requests.length;
    expect((await chatError(client, "doomed")).status).toBe(404);
    expect(upstream.requests.length).toBe(requestsBefore);

    const types = (await streamEvents(gateway, created.body.id)).map((e) => e.type);
    expect(types).toEqual(["DeploymentRequested", "ExternalUpstreamRemoved"]);
    // Gone: deleting or re-keying it again is a 404, like a terminated pod.
    const again = await api(gateway.url, "DELETE", `/api/deployments/${created.body.id}`, {
      token: tenant.key,
    });
    expect(again.status).toBe(404);
    expect((await replaceKey(created.body.id, { api_key: NEW_KEY })).status).toBe(404);

    const reused = await register("doomed");
    expect(reused.status).toBe(201);
    expect(await chat(client, "doomed")).toContain("Hello from ollama");
  });

  it("lets no other account, and no key without manage, delete or re-key", async () => {
    const created = await register("guarded");
    const stranger = await createTenant(gateway, 0);
    const path = `/api/deployments/${created.body.id}`;
    expect((await api(gateway.url, "DELETE", path, { token: stranger.key })).status).toBe(404);
    expect((await replaceKey(created.body.id, { api_key: NEW_KEY }, stranger.key)).status)
      .toBe(404);
    const readOnly = await createApiKey(gateway.url, tenant.accountId, { permissions: ["read"] });
    expect((await api(gateway.url, "DELETE", path, { token: readOnly })).status).toBe(403);
    expect((await replaceKey(created.body.id, { api_key: NEW_KEY }, readOnly)).status).toBe(403);
    expect((await replaceKey("no_such_deployment", { api_key: NEW_KEY })).status).toBe(404);
    expect((await replaceKey("x".repeat(65), { api_key: NEW_KEY })).status).toBe(404);
    const still = await api(gateway.url, "GET", path, { token: tenant.key });
    expect(still.body.status).toBe("running");
  });
});

describe("GPU choices and spend per deployment", () => {
  let sim: RunpodSimulator;

  beforeAll(async () => {
    sim = await startSim();
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("lists the allowed GPUs with what an hour costs the account", async () => {
    const gateway = await startGateway(sim, {
      env: {
        RUNPOD_ALLOWED_GPUS: "NVIDIA GeForce RTX 4090,NVIDIA H100 80GB HBM3,Acme Mystery GPU",
        POD_PRICE_MULTIPLIER: "1.5",
      },
    });
    try {
      const tenant = await createTenant(gateway, 0);
      const readOnly = await createApiKey(gateway.url, tenant.accountId, {
        permissions: ["read"],
      });
      const gpus = await api(gateway.url, "GET", "/api/deployments/gpus", { token: readOnly });
      expect(gpus.status).toBe(200);
      expect(gpus.body).toEqual({
        object: "list",
        data: [
          { id: "NVIDIA GeForce RTX 4090", name: "RTX 4090", price_per_hour_usd: 1.035 },
          { id: "NVIDIA H100 80GB HBM3", name: "H100 80GB HBM3", price_per_hour_usd: 4.485 },
          { id: "Acme Mystery GPU", name: "Acme Mystery GPU", price_per_hour_usd: null },
        ],
      });
      expect((await api(gateway.url, "GET", "/api/deployments/gpus")).status).toBe(401);
    } finally {
      await gateway.close();
    }
  });

  it("shows spend_usd as the sum of the deployment's metered minutes", async () => {
    const start = new Date("2026-01-01T00:00:00.000Z");
    const clock = new ManualClock(start);
    const gateway = await startGateway(sim, { clock });
    try {
      const tenant = await createTenant(gateway, 1);
      const created = await deploy(gateway, tenant, { model: "mistral" });
      expect(created.status).toBe(202);
      expect(created.body.spend_usd).toBe(0);
      await waitForStatus(gateway, tenant, created.body.id, "running");
      // The simulator prices an RTX 4090 at 0.69 USD/h: 11,500 micro-dollars a minute.
      clock.set(new Date(start.getTime() + 12 * 60_000 + 5_000));
      await meteringOf(gateway).meterNow();
      const metered = (await streamEvents(gateway, created.body.id))
        .filter((e) => e.type === "DeploymentUsageMetered");
      expect(metered.length).toBe(13);
      const shown = await api(gateway.url, "GET", `/api/deployments/${created.body.id}`, {
        token: tenant.key,
      });
      expect(shown.body.spend_usd).toBe(0.1495);
      const list = await api(gateway.url, "GET", "/api/deployments", { token: tenant.key });
      expect(list.body.data[0].spend_usd).toBe(0.1495);
    } finally {
      await gateway.close();
    }
  });
});
