import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import { createApiKey } from "../support/accounts.ts";
import {
  api,
  createTenant,
  deploy,
  startGateway,
  startSim,
  streamEvents,
  type Tenant,
  waitForStatus,
} from "./support.ts";

/**
 * `GET /api/deployments/{id}/health` as the product documentation uses it: checked with the key
 * that chats (`proxy`), every documented field present and truthful, running or stopped.
 */
describe("deployment health as documented (simulator)", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let tenant: Tenant;
  let id: string;

  beforeAll(async () => {
    sim = await startSim();
    gateway = await startGateway(sim);
    tenant = await createTenant(gateway, 10);
    const created = await deploy(gateway, tenant, { model: "mistral" });
    expect(created.status).toBe(202);
    id = created.body.id;
    await waitForStatus(gateway, tenant, id, "running");
  });

  afterAll(async () => {
    await gateway?.close();
    await sim?.close();
  });

  const health = (token: string) =>
    api(gateway.url, "GET", `/api/deployments/${id}/health`, { token });

  it("answers a proxy-only key (the chat key), a read-only key, and refuses a key with neither", async () => {
    const proxyKey = await createApiKey(gateway.url, tenant.accountId, { permissions: ["proxy"] });
    const readKey = await createApiKey(gateway.url, tenant.accountId, { permissions: ["read"] });
    const manageKey = await createApiKey(gateway.url, tenant.accountId, {
      permissions: ["manage"],
    });

    const byProxy = await health(proxyKey);
    expect(byProxy.status).toBe(200);
    expect(byProxy.body).toMatchObject({ status: "healthy", deployment_status: "running" });
    expect((await health(readKey)).status).toBe(200);

    const refused = await health(manageKey);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ type: "permission_error" });
    expect(refused.body.error.message).toContain("'read' or 'proxy'");
    // The proxy key still cannot read the deployment itself: only health was widened.
    expect((await api(gateway.url, "GET", `/api/deployments/${id}`, { token: proxyKey })).status)
      .toBe(403);

    // The OpenAPI document says what the guard enforces.
    const document = await api(gateway.url, "GET", "/openapi.json", {});
    const operation = document.body.paths["/api/deployments/{id}/health"].get;
    expect(operation["x-permission"]).toEqual(["read", "proxy"]);
    expect(operation.description).toContain("`read` or `proxy` permission");
  });

  it("reports webui truthfully: the pod runs no Open WebUI and exposes no port for one", async () => {
    const body = (await health(tenant.key)).body;
    expect(body.services).toEqual({ ollama: "running", webui: "not_deployed" });
    // What makes it true: the pod exposes only Ollama's port, and nothing asked for another.
    expect(sim.pod(id)!.ports).toEqual(["11434/http"]);
    const probedPorts = new Set(
      sim.requests.filter((r) => r.path.startsWith(`/proxy/${id}-`)).map((r) =>
        r.path.split("/")[2].slice(id.length + 1)
      ),
    );
    expect([...probedPorts]).toEqual(["11434"]);
  });

  it("reports response_time_ms as a number, running and stopped, with last_checked", async () => {
    const running = (await health(tenant.key)).body;
    expect(Object.keys(running).sort()).toEqual([
      "deployment_status",
      "last_checked",
      "response_time_ms",
      "services",
      "status",
      "timestamp",
    ]);
    expect(Number.isInteger(running.response_time_ms)).toBe(true);
    expect(running.response_time_ms).toBeGreaterThanOrEqual(0);

    const stopped = await api(gateway.url, "POST", `/api/deployments/${id}/stop`, {
      token: tenant.key,
    });
    expect(stopped.status).toBe(200);
    const requestsBefore = sim.requests.length;
    const body = (await health(tenant.key)).body;
    expect(body).toMatchObject({
      status: "unhealthy",
      deployment_status: "stopped",
      services: { ollama: "stopped", webui: "not_deployed" },
    });
    // No probe of a stopped pod: the number is the check's own time.
    expect(sim.requests.length).toBe(requestsBefore);
    expect(typeof body.response_time_ms).toBe("number");
    expect(Number.isInteger(body.response_time_ms)).toBe(true);
    expect(body.response_time_ms).toBeGreaterThanOrEqual(0);
    expect(body.response_time_ms).toBeLessThan(1_000);
    expect(new Date(body.last_checked).toISOString()).toBe(body.last_checked);
    // The recorded event keeps its meaning: no probe, no probe time.
    const changes = (await streamEvents(gateway, id)).filter((e) =>
      e.type === "DeploymentHealthChanged"
    );
    expect(changes.at(-1)!.data).toMatchObject({ healthy: false, responseTimeMs: null });
  });
});
