import { ManualClock } from "../../src/common/clock.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import type { TestApp } from "../support/test-app.ts";
import {
  allEvents,
  api,
  chatError,
  clientFor,
  createTenant,
  deploy,
  meteringOf,
  startGateway,
  startSim,
  streamEvents,
  tempDataDir,
  type Tenant,
  TEST_ADMIN_KEY,
  waitForStatus,
} from "./support.ts";

// The simulator prices an RTX 4090 pod at 0.69 USD/h: 11,500 micro-dollars a minute.
const MINUTE_MICROS = 11_500;
const START = new Date("2026-01-01T00:00:00.000Z");

describe("pod metering (ManualClock)", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let clock: ManualClock;
  let dataDir: string;

  beforeEach(async () => {
    sim = await startSim();
    clock = new ManualClock(START);
    dataDir = tempDataDir();
    gateway = await startGateway(sim, { clock, dataDir });
  });

  afterEach(async () => {
    await gateway?.close();
    await sim?.close();
  });

  const at = (seconds: number) => clock.set(new Date(START.getTime() + seconds * 1000));

  async function charges(accountId: string) {
    return (await allEvents(gateway, ["CreditsCharged"])).filter((e) =>
      e.data.accountId === accountId
    );
  }

  async function balanceMicros(accountId: string): Promise<number> {
    const account = await api(gateway.url, "GET", `/admin/accounts/${accountId}`, {
      token: TEST_ADMIN_KEY,
    });
    return Math.round(account.body.balance_usd * 1_000_000);
  }

  async function runningDeployment(tenant: Tenant): Promise<string> {
    const created = await deploy(gateway, tenant, { model: "mistral" });
    expect(created.status).toBe(202);
    await waitForStatus(gateway, tenant, created.body.id, "running");
    return created.body.id;
  }

  // Issue 11 changed this test: billing starts at PodCreated, and a deploy holds
  // POD_MIN_PREPAID_MINUTES (10) of the price; those minutes are metered against the hold, which
  // is settled once at exactly their sum; later minutes are charged one by one as before.
  it("meters the first 10 minutes against the deploy's hold, settles it exactly, then charges each later minute once, with no gap across a restart", async () => {
    const tenant = await createTenant(gateway, 1);
    const id = await runningDeployment(tenant);
    const [reserved] = (await allEvents(gateway, ["CreditsReserved"])).filter((e) =>
      e.data.accountId === tenant.accountId
    );
    expect(reserved.data.amountMicros).toBe(10 * MINUTE_MICROS);

    await meteringOf(gateway).meterNow();
    await meteringOf(gateway).meterNow();
    expect(await charges(tenant.accountId)).toEqual([]);
    at(59);
    await meteringOf(gateway).meterNow();
    at(61);
    await meteringOf(gateway).meterNow();

    // Down for three and a half minutes while the pod keeps running: every minute is metered once.
    await gateway.close({ keepData: true });
    at(61 + 210);
    gateway = await startGateway(sim, { clock, dataDir });
    await Promise.all([meteringOf(gateway).meterNow(), meteringOf(gateway).meterNow()]);
    await meteringOf(gateway).meterNow();
    expect(await charges(tenant.accountId)).toEqual([]);
    expect(await balanceMicros(tenant.accountId)).toBe(1_000_000);

    // Minute 10 does not fit the hold: it is settled at the 10 prepaid minutes, then minute 10 charged.
    at(600);
    await meteringOf(gateway).meterNow();
    await meteringOf(gateway).meterNow();
    const charged = await charges(tenant.accountId);
    expect(charged.map((e) => [e.data.chargeId, e.data.amountMicros])).toEqual([
      [reserved.data.reservationId, 10 * MINUTE_MICROS],
      [`metering:${id}:2026-01-01T00:10:00.000Z`, MINUTE_MICROS],
    ]);
    const metered = (await streamEvents(gateway, id)).filter((e) =>
      e.type === "DeploymentUsageMetered"
    );
    expect(metered.map((e) => e.data.minute)).toEqual(
      Array.from({ length: 11 }, (_, m) => new Date(START.getTime() + m * 60_000).toISOString()),
    );
    expect(metered.map((e) => e.data.prepaid === true)).toEqual([
      ...Array(10).fill(true),
      false,
    ]);
    expect(await balanceMicros(tenant.accountId)).toBe(1_000_000 - 11 * MINUTE_MICROS);
  });

  it("meters a stream written before issue 11 as it always was: from PodStarted, minute by minute", async () => {
    const tenant = await createTenant(gateway, 1);
    const id = "legacypod00001";
    const store = gateway.app.get<EventStore>(EVENT_STORE);
    // The historic shapes: PodCreated without billedFrom or a hold, then PodStarted 90 s later.
    await store.append(`deployment-${id}`, [
      {
        id: crypto.randomUUID(),
        type: "DeploymentRequested",
        data: {
          deploymentId: id,
          accountId: tenant.accountId,
          provider: "runpod",
          name: "legacy",
          modelIdentifier: "mistral",
          gpuTypeId: "NVIDIA GeForce RTX 4090",
          requestedAt: START.toISOString(),
        },
        metadata: { accountId: tenant.accountId },
      },
      {
        id: crypto.randomUUID(),
        type: "PodCreated",
        data: {
          deploymentId: id,
          podId: id,
          gpuTypeId: "NVIDIA GeForce RTX 4090",
          costPerHourUsd: 0.69,
          createdAt: START.toISOString(),
        },
        metadata: { accountId: tenant.accountId },
      },
      {
        id: crypto.randomUUID(),
        type: "PodStarted",
        data: {
          deploymentId: id,
          baseUrl: "http://127.0.0.1:9/v1",
          startedAt: new Date(START.getTime() + 90_000).toISOString(),
        },
        metadata: { accountId: tenant.accountId },
      },
    ], { expectedRevision: "no_stream" });
    at(150);
    await meteringOf(gateway).meterNow();
    expect((await charges(tenant.accountId)).map((e) => [e.data.chargeId, e.data.amountMicros]))
      .toEqual([
        [`metering:${id}:2026-01-01T00:01:00.000Z`, MINUTE_MICROS],
        [`metering:${id}:2026-01-01T00:02:00.000Z`, MINUTE_MICROS],
      ]);
    expect(await balanceMicros(tenant.accountId)).toBe(1_000_000 - 2 * MINUTE_MICROS);
  });

  it("meters the other pods when one pod's metering fails (RunPod will not stop an unpriced pod)", async () => {
    const tenant = await createTenant(gateway, 1);
    const store = gateway.app.get<EventStore>(EVENT_STORE);
    const broken = "nopricepod0001";
    // A historic stream with no usable price: metering must stop it, and RunPod refuses the stop.
    await store.append(`deployment-${broken}`, [
      {
        id: crypto.randomUUID(),
        type: "DeploymentRequested",
        data: {
          deploymentId: broken,
          accountId: tenant.accountId,
          provider: "runpod",
          name: "no-price",
          modelIdentifier: "mistral",
          gpuTypeId: "NVIDIA GeForce RTX 4090",
          requestedAt: START.toISOString(),
        },
        metadata: { accountId: tenant.accountId },
      },
      {
        id: crypto.randomUUID(),
        type: "PodCreated",
        data: {
          deploymentId: broken,
          podId: broken,
          gpuTypeId: "NVIDIA GeForce RTX 4090",
          costPerHourUsd: null,
          createdAt: START.toISOString(),
        },
        metadata: { accountId: tenant.accountId },
      },
      {
        id: crypto.randomUUID(),
        type: "PodStarted",
        data: {
          deploymentId: broken,
          baseUrl: "http://127.0.0.1:9/v1",
          startedAt: START.toISOString(),
        },
        metadata: { accountId: tenant.accountId },
      },
    ], { expectedRevision: "no_stream" });
    sim.failNext(new RegExp(`${broken}/action`), 500, 1_000);
    at(30);
    const id = await runningDeployment(tenant);
    at(90);
    await meteringOf(gateway).meterNow();
    const metered = (await streamEvents(gateway, id)).filter((e) =>
      e.type === "DeploymentUsageMetered"
    );
    expect(metered.map((e) => [e.data.minute, e.data.prepaid === true])).toEqual([
      ["2026-01-01T00:00:00.000Z", true],
      ["2026-01-01T00:01:00.000Z", true],
    ]);
  });

  it("applies POD_PRICE_MULTIPLIER", async () => {
    await gateway.close();
    gateway = await startGateway(sim, {
      clock,
      dataDir: tempDataDir(),
      env: { POD_PRICE_MULTIPLIER: "1.5" },
    });
    const tenant = await createTenant(gateway, 1);
    const id = await runningDeployment(tenant);
    await meteringOf(gateway).meterNow();
    const [reserved] = (await allEvents(gateway, ["CreditsReserved"])).filter((e) =>
      e.data.accountId === tenant.accountId
    );
    expect(reserved.data.amountMicros).toBe(10 * 17_250);
    const metered = (await streamEvents(gateway, id)).filter((e) =>
      e.type === "DeploymentUsageMetered"
    );
    expect(metered.map((e) => e.data.amountMicros)).toEqual([17_250]);
  });

  it("settles a pod's hold at its prepaid minutes even after another pod of the account ran out of credit", async () => {
    // Two holds and half a minute: pod A's first minute past its hold is refused, while pod B,
    // deployed five minutes later, still runs on its own hold.
    const tenant = await createTenant(gateway, (20.5 * MINUTE_MICROS) / 1_000_000);
    const first = await runningDeployment(tenant);
    await meteringOf(gateway).meterNow();
    at(300);
    const created = await deploy(gateway, tenant, { model: "mistral", name: "second" });
    expect(created.status).toBe(202);
    const second = created.body.id as string;
    await waitForStatus(gateway, tenant, second, "running");
    await meteringOf(gateway).meterNow();

    // A's minute 10 is refused (and stays due: A ran during it), so both pods stop.
    at(630);
    const report = await meteringOf(gateway).meterNow();
    expect(report.stoppedAccounts).toEqual([tenant.accountId]);
    await waitForStatus(gateway, tenant, first, "stopped");
    await waitForStatus(gateway, tenant, second, "stopped");
    at(700);
    await meteringOf(gateway).meterNow();

    const holds = (await allEvents(gateway, ["CreditsReserved"])).filter((e) =>
      e.data.accountId === tenant.accountId
    );
    expect(holds).toHaveLength(2);
    const secondMetered = (await streamEvents(gateway, second)).filter((e) =>
      e.type === "DeploymentUsageMetered"
    );
    // Minutes 5 to 10 of the hour, all against B's hold, which is settled at exactly them.
    expect(secondMetered.map((e) => e.data.prepaid === true)).toEqual(Array(6).fill(true));
    expect((await charges(tenant.accountId)).map((e) => [e.data.chargeId, e.data.amountMicros]))
      .toEqual([
        [holds[0].data.reservationId, 10 * MINUTE_MICROS],
        [holds[1].data.reservationId, 6 * MINUTE_MICROS],
      ]);
    // What B's hold gave back pays A's refused minute on the next pass.
    at(760);
    await meteringOf(gateway).meterNow();
    expect((await charges(tenant.accountId)).map((e) => e.data.chargeId).at(-1)).toBe(
      `metering:${first}:2026-01-01T00:10:00.000Z`,
    );
    expect(await balanceMicros(tenant.accountId)).toBe(3.5 * MINUTE_MICROS);
  });

  it("stops the account's pods when the balance cannot cover the next minute", async () => {
    // Enough for the 10 held minutes and 2 more.
    const tenant = await createTenant(gateway, (12 * MINUTE_MICROS) / 1_000_000);
    const id = await runningDeployment(tenant);

    await meteringOf(gateway).meterNow();
    at(660);
    await meteringOf(gateway).meterNow();
    expect(await balanceMicros(tenant.accountId)).toBe(0);
    await waitForStatus(gateway, tenant, id, "running");

    at(720);
    const report = await meteringOf(gateway).meterNow();
    expect(report.stoppedAccounts).toEqual([tenant.accountId]);
    await waitForStatus(gateway, tenant, id, "stopped");
    expect(sim.pod(id)!.status).toBe("EXITED");
    const stops = (await streamEvents(gateway, id)).filter((e) => e.type === "PodStopped");
    expect(stops.map((e) => e.data.reason)).toEqual(["insufficient_credits"]);
    expect((await chatError(clientFor(gateway, tenant), "mistral")).code).toBe(
      "model_not_available",
    );
    // The settled hold (10 minutes) and minutes 10 and 11.
    expect(await charges(tenant.accountId)).toHaveLength(3);
    expect(await balanceMicros(tenant.accountId)).toBe(0);

    // Nothing more is charged for a stopped pod, and it cannot be started without credit.
    at(1200);
    expect((await meteringOf(gateway).meterNow()).charged).toEqual([]);
    const start = await api(gateway.url, "POST", `/api/deployments/${id}/start`, {
      token: tenant.key,
    });
    expect(start.status).toBe(402);
    expect(start.body.error.code).toBe("insufficient_credits");
  });
});
