import { ManualClock } from "../../src/common/clock.ts";
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

  it("charges exactly one minute per started minute, idempotently, with no gap across a restart", async () => {
    const tenant = await createTenant(gateway, 1);
    const id = await runningDeployment(tenant);

    await meteringOf(gateway).meterNow();
    await meteringOf(gateway).meterNow();
    expect((await charges(tenant.accountId)).map((e) => e.data.chargeId)).toEqual([
      `metering:${id}:2026-01-01T00:00:00.000Z`,
    ]);

    at(59);
    await meteringOf(gateway).meterNow();
    expect(await charges(tenant.accountId)).toHaveLength(1);
    at(61);
    await meteringOf(gateway).meterNow();
    expect(await charges(tenant.accountId)).toHaveLength(2);

    // Down for three and a half minutes while the pod keeps running: every minute is billed once.
    await gateway.close({ keepData: true });
    at(61 + 210);
    gateway = await startGateway(sim, { clock, dataDir });
    await Promise.all([meteringOf(gateway).meterNow(), meteringOf(gateway).meterNow()]);
    await meteringOf(gateway).meterNow();

    const charged = await charges(tenant.accountId);
    expect(charged.map((e) => e.data.chargeId)).toEqual(
      [0, 1, 2, 3, 4].map((m) => `metering:${id}:2026-01-01T00:0${m}:00.000Z`),
    );
    expect(charged.every((e) => e.data.amountMicros === MINUTE_MICROS)).toBe(true);
    const metered = (await streamEvents(gateway, id)).filter((e) =>
      e.type === "DeploymentUsageMetered"
    );
    expect(metered.map((e) => e.data.minute)).toEqual(
      [0, 1, 2, 3, 4].map((m) => `2026-01-01T00:0${m}:00.000Z`),
    );
    expect(await balanceMicros(tenant.accountId)).toBe(1_000_000 - 5 * MINUTE_MICROS);
  });

  it("applies POD_PRICE_MULTIPLIER", async () => {
    await gateway.close();
    gateway = await startGateway(sim, {
      clock,
      dataDir: tempDataDir(),
      env: { POD_PRICE_MULTIPLIER: "1.5" },
    });
    const tenant = await createTenant(gateway, 1);
    await runningDeployment(tenant);
    await meteringOf(gateway).meterNow();
    expect((await charges(tenant.accountId)).map((e) => e.data.amountMicros)).toEqual([17_250]);
  });

  it("stops the account's pods when the balance cannot cover the next minute", async () => {
    const tenant = await createTenant(gateway, (2 * MINUTE_MICROS) / 1_000_000);
    const id = await runningDeployment(tenant);

    await meteringOf(gateway).meterNow();
    at(60);
    await meteringOf(gateway).meterNow();
    expect(await balanceMicros(tenant.accountId)).toBe(0);
    await waitForStatus(gateway, tenant, id, "running");

    at(120);
    const report = await meteringOf(gateway).meterNow();
    expect(report.stoppedAccounts).toEqual([tenant.accountId]);
    await waitForStatus(gateway, tenant, id, "stopped");
    expect(sim.pod(id)!.status).toBe("EXITED");
    const stops = (await streamEvents(gateway, id)).filter((e) => e.type === "PodStopped");
    expect(stops.map((e) => e.data.reason)).toEqual(["insufficient_credits"]);
    expect((await chatError(clientFor(gateway, tenant), "mistral")).code).toBe(
      "model_not_available",
    );
    expect(await charges(tenant.accountId)).toHaveLength(2);
    expect(await balanceMicros(tenant.accountId)).toBe(0);

    // Nothing more is charged for a stopped pod, and it cannot be started without credit.
    at(600);
    expect((await meteringOf(gateway).meterNow()).charged).toEqual([]);
    const start = await api(gateway.url, "POST", `/api/deployments/${id}/start`, {
      token: tenant.key,
    });
    expect(start.status).toBe(402);
    expect(start.body.error.code).toBe("insufficient_credits");
  });
});
