import { newEventId } from "../../src/common/ids.ts";
import { deploymentNameStream } from "../../src/deployments/deployment-names.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { ProjectionRunner } from "../../src/projections/projection-runner.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  allEvents,
  api,
  createTenant,
  deploy,
  startGateway,
  startSim,
  type Tenant,
} from "./support.ts";

const TAKEN = (name: string) => ({
  type: "invalid_request_error",
  param: null,
  code: "deployment_exists",
  message: `A deployment named '${name}' already exists.`,
});

describe("deployment names are unique per account", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let tenant: Tenant;
  let store: EventStore;

  const register = (name: string, baseUrl = "http://127.0.0.1:9/v1") =>
    api(gateway.url, "POST", "/api/deployments", {
      token: tenant.key,
      body: { provider: "external", name, model: "m", base_url: baseUrl },
    });
  const claimEvents = async (name: string) =>
    (await store.readStream(deploymentNameStream(tenant.accountId, name))).map((event) => [
      event.type,
      (event.data as { reason?: string }).reason,
    ]);

  beforeEach(async () => {
    sim = await startSim();
    gateway = await startGateway(sim, { env: { MAX_PODS_PER_ACCOUNT: "10" } });
    tenant = await createTenant(gateway, 100);
    store = gateway.app.get<EventStore>(EVENT_STORE);
  });

  afterEach(async () => {
    await gateway?.close();
    await sim?.close();
  });

  it("lets one of racing deploys of a name through, gives the others' pods back, and frees the name on delete", async () => {
    const responses = await Promise.all(
      Array.from({ length: 4 }, () => deploy(gateway, tenant, { model: "mistral", name: "same" })),
    );
    const accepted = responses.filter((response) => response.status === 202);
    expect(accepted).toHaveLength(1);
    for (const refused of responses.filter((response) => response.status !== 202)) {
      expect(refused.status).toBe(409);
      expect(refused.body.error).toEqual(TAKEN("same"));
    }
    expect(sim.pods().filter((pod) => pod.status !== "TERMINATED")).toHaveLength(1);
    // Racers refused at the claim had held credit for their pod: every such hold went back.
    const holds = await allEvents(gateway, ["CreditsReserved", "ReservationReleased"]);
    const reserved = holds.filter((event) => event.type === "CreditsReserved").length;
    const released = holds.filter((event) => event.type === "ReservationReleased").length;
    expect(reserved - released).toBe(1);

    const deleted = await api(gateway.url, "DELETE", `/api/deployments/${accepted[0].body.id}`, {
      token: tenant.key,
    });
    expect(deleted.status).toBe(200);
    expect((await deploy(gateway, tenant, { model: "mistral", name: "same" })).status).toBe(202);
    // Refused racers that reached the claim appended nothing to it.
    expect(await claimEvents("same")).toEqual([
      ["DeploymentNameClaimed", undefined],
      ["DeploymentNameReleased", "terminated"],
      ["DeploymentNameClaimed", undefined],
    ]);
  });

  it("registers an external name once when registrations race", async () => {
    const responses = await Promise.all(Array.from({ length: 5 }, () => register("mine")));
    expect(responses.filter((response) => response.status === 201)).toHaveLength(1);
    for (const refused of responses.filter((response) => response.status !== 201)) {
      expect(refused.status).toBe(409);
      expect(refused.body.error).toEqual(TAKEN("mine"));
    }
    const pod = await deploy(gateway, tenant, { model: "mistral", name: "mine" });
    expect(pod.status).toBe(409);
    expect(pod.body.error).toEqual(TAKEN("mine"));
  });

  it("still refuses the name of a deployment written before name claims existed", async () => {
    // What older releases wrote: the deployment, and no claim stream.
    const appended = await store.append("deployment-ext_old", [{
      id: newEventId(),
      type: "DeploymentRequested",
      data: {
        deploymentId: "ext_old",
        accountId: tenant.accountId,
        provider: "external",
        name: "legacy",
        modelIdentifier: "m",
        baseUrl: "http://127.0.0.1:9/v1",
        requestedAt: new Date().toISOString(),
      },
      metadata: { accountId: tenant.accountId },
    }], { expectedRevision: "no_stream" });
    await gateway.app.get(ProjectionRunner).waitFor(appended.position);
    const external = await register("legacy");
    expect(external.status).toBe(409);
    expect(external.body.error).toEqual(TAKEN("legacy"));
    const pod = await deploy(gateway, tenant, { model: "mistral", name: "legacy" });
    expect(pod.status).toBe(409);
    expect(pod.body.error).toEqual(TAKEN("legacy"));
    expect(await claimEvents("legacy")).toEqual([]);
  });

  it("takes back a claim whose request died long ago, and keeps a recent one", async () => {
    const claim = (name: string, deploymentId: string, claimedAt: string) =>
      store.append(deploymentNameStream(tenant.accountId, name), [{
        id: newEventId(),
        type: "DeploymentNameClaimed",
        data: { accountId: tenant.accountId, name, deploymentId, claimedAt },
        metadata: { accountId: tenant.accountId },
      }], { expectedRevision: "no_stream" });
    await claim("orphan", "ext_never", "2020-01-01T00:00:00.000Z");
    expect((await register("orphan")).status).toBe(201);
    expect(await claimEvents("orphan")).toEqual([
      ["DeploymentNameClaimed", undefined],
      ["DeploymentNameReleased", "stale"],
      ["DeploymentNameClaimed", undefined],
    ]);

    await claim("inflight", "ext_pending", new Date().toISOString());
    const refused = await register("inflight");
    expect(refused.status).toBe(409);
    expect(refused.body.error).toEqual(TAKEN("inflight"));
  });
});
