import OpenAI from "openai";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { BillingQueries } from "../../src/billing/billing.queries.ts";
import { ChargeReconciler } from "../../src/billing/charge-reconciler.process.ts";
import { HoldExpiryProcess } from "../../src/billing/hold-expiry.process.ts";
import { ManualClock } from "../../src/common/clock.ts";
import {
  type DeploymentEvent,
  dueMinutes,
  fold,
} from "../../src/deployments/deployment.decider.ts";
import { PodMetering } from "../../src/deployments/pods/pod-metering.ts";
import { PodReconciler } from "../../src/deployments/pods/pod-reconciler.ts";
import {
  EVENT_STORE,
  type EventStore,
  type RecordedEvent,
} from "../../src/event-store/event-store.port.ts";
import { UsageRecorder } from "../../src/inference/usage-recorder.ts";
import { ProjectionRunner } from "../../src/projections/projection-runner.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import { api, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";
import { startGateway, startSim } from "../deployments/support.ts";

/**
 * History always loads: the store 2d68c2d wrote (test/fixtures/store-2d68c2d, never edited)
 * under the current code, every read model rebuilt from zero. Every expected value below was
 * read from 2d68c2d's own HTTP API when the fixture was written, unless it says otherwise.
 */
const FIXTURE = new URL("../fixtures/store-2d68c2d/", import.meta.url).pathname;
const credentials = JSON.parse(readFileSync(join(FIXTURE, "credentials.json"), "utf8"));
const { alice, bob, carol } = credentials.accounts;

/** The fixture's last position: everything after it was appended by the current code. */
const FIXTURE_HEAD = 67n;
const POD_ID = "isykuzql8hk8ba";
const EXTERNAL_ID = "ext_LPrB9Bwv4wNtVgAz";
const usdToMicros = (usd: number) => Math.round(usd * 1_000_000);

function cli(dataDir: string, ...args: string[]) {
  const result = spawnSync(process.execPath, ["run", "-A", "src/cli/main.ts", ...args], {
    env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "silent" },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the store written by 2d68c2d", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let store: EventStore;
  let dataDir: string;
  let closed = false;
  // Ten minutes after the last old write: the terminated pod is still "recently changed", so
  // metering looks at it, and every old completion is older than the charge reconciler's grace.
  const clock = new ManualClock(new Date("2026-11-20T09:40:00.000Z"));

  const get = (path: string, token: string) => api(gateway.url, "GET", path, { token });

  /** Events the current code appended on top of the fixture. */
  async function appended(): Promise<RecordedEvent[]> {
    const all = await store.readAll({ maxCount: 100_000 });
    return all.filter((event) => event.position > FIXTURE_HEAD);
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "modelpilot-history-"));
    copyFileSync(join(FIXTURE, "events.sqlite"), join(dataDir, "events.sqlite"));
    // A fresh simulator: RunPod knows no pod of the fixture (the old one is terminated anyway).
    sim = await startSim();
    gateway = await startGateway(sim, {
      clock,
      dataDir,
      env: {
        SECRETS_KEY: credentials.secretsKey,
        // Background loops only run when the test calls them (they also sweep once at start).
        CHARGE_RECONCILE_INTERVAL_MS: "3600000",
      },
    });
    store = gateway.app.get<EventStore>(EVENT_STORE);
    await gateway.app.get(ProjectionRunner).waitFor(await store.headPosition(), undefined, 20_000);
  });

  afterAll(async () => {
    if (!closed) await gateway?.close();
    await sim?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("holds the history 2d68c2d wrote, untouched", async () => {
    const events = await store.readAll({ maxCount: 100_000 });
    const counts: Record<string, number> = {};
    for (const event of events.filter((e) => e.position <= FIXTURE_HEAD)) {
      counts[event.type] = (counts[event.type] ?? 0) + 1;
    }
    // Counted from the fixture's own store when it was written.
    expect(counts).toEqual({
      AccountRegistered: 3,
      ApiKeyCreated: 4,
      ApiKeyRevoked: 1,
      ApiKeysUsed: 1,
      CreditsCharged: 10,
      CreditsGranted: 5,
      CreditsPurchased: 1,
      CreditsReserved: 6,
      DeploymentHealthChanged: 1,
      DeploymentRequested: 2,
      DeploymentUsageMetered: 6,
      EmailClaimed: 3,
      InferenceCompleted: 3,
      InferenceFailed: 1,
      JobCompleted: 2,
      JobFailed: 1,
      JobSubmitted: 3,
      ModelPulled: 2,
      PasswordSet: 2,
      PodCreated: 1,
      PodStarted: 2,
      PodStopped: 2,
      PodTerminated: 1,
      ReservationReleased: 2,
      SessionStarted: 2,
    });
  });

  it("rebuilds every projection from zero, new ones included, without an error", async () => {
    const projections = await get("/admin/projections", TEST_ADMIN_KEY);
    expect(projections.status).toBe(200);
    const names = projections.body.data.map((p: { name: string }) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(["billing-ledger", "billing-ledger-history", "deployments"]),
    );
    expect(names).toContain("billing-inference-charges");
    for (const projection of projections.body.data) {
      expect(projection).toMatchObject({ state: "live", lag: 0, error: null });
    }
  });

  it("lets the start-up sweeps, metering and both reconcilers run without touching the old history", async () => {
    await gateway.app.get(UsageRecorder).flush();
    // The old pod's stream was billed from PodStarted (09:11:30), not PodCreated (09:10:00),
    // and every minute was metered: nothing is due, however metering now counts.
    expect(await gateway.app.get(PodMetering).meterNow()).toEqual({
      charged: [],
      stoppedAccounts: [],
    });
    expect((await gateway.app.get(PodReconciler).reconcileNow()).changed).toEqual([]);
    expect(await gateway.app.get(ChargeReconciler).sweep()).toBe(0);
    expect(await gateway.app.get(HoldExpiryProcess).sweep()).toBe(0);
    // Every old completed request is known to be charged (settled under its inference id).
    expect(await gateway.app.get(BillingQueries).dueInferenceCharges(clock.now(), 100)).toEqual(
      [],
    );
    expect((await appended()).map((event) => `${event.stream} ${event.type}`)).toEqual([]);
  });

  it("keeps billing the old pod from PodStarted, not PodCreated", async () => {
    const recorded = await store.readStream(`deployment-${POD_ID}`);
    const events = recorded.map((e) => ({ type: e.type, data: e.data }) as DeploymentEvent);
    const started = events.findIndex((event) => event.type === "PodStarted");
    const justStarted = fold(events.slice(0, started + 1));
    expect(justStarted.billedFrom).toBe("started");
    // PodCreated at 09:10:00, PodStarted at 09:11:30: the 09:10 minute was never billable.
    expect(dueMinutes(justStarted, new Date("2026-11-20T09:11:30.000Z"))).toEqual([
      "2026-11-20T09:11:00.000Z",
    ]);
    const now = fold(events);
    expect(now).toMatchObject({
      status: "terminated",
      lastMeteredMinute: "2026-11-20T09:21:00.000Z",
    });
    expect(dueMinutes(now, clock.now())).toEqual([]);
  });

  it("shows each account's balance as 2d68c2d did", async () => {
    const expected = [
      [alice, 19.968],
      [bob, 2.931],
      [carol, 1.5],
    ] as const;
    for (const [account, balanceUsd] of expected) {
      const admin = await get(`/admin/accounts/${account.accountId}`, TEST_ADMIN_KEY);
      expect(admin.status).toBe(200);
      expect(admin.body).toMatchObject({
        id: account.accountId,
        email: account.email,
        balance_usd: balanceUsd,
      });
      const own = await get("/api/billing/balance", account.key);
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({
        balance_usd: balanceUsd,
        available_usd: balanceUsd,
        currency: "usd",
      });
    }
    expect((await get(`/admin/accounts/${alice.accountId}`, TEST_ADMIN_KEY)).body.created_at)
      .toBe("2026-11-20T09:00:00.000Z");
  });

  it.each([
    ["alice", "2026-11-20T09:02:10.000Z", 5],
    ["alice", "2026-11-20T09:06:00.000Z", 19.98],
    ["bob", "2026-11-20T09:13:30.000Z", 2.9655],
  ])("answers %s's balance at %s as 2d68c2d did (%d)", async (name, at, balanceUsd) => {
    const account = credentials.accounts[name];
    const response = await get(`/api/billing/balance?at=${encodeURIComponent(at)}`, account.key);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      object: "balance",
      balance_usd: balanceUsd,
      available_usd: balanceUsd,
      currency: "usd",
      at,
    });
  });

  it("lists the same transactions and usage", async () => {
    const rows = async (token: string) =>
      (await get("/api/billing/transactions?limit=100", token)).body.data.map((row: any) => [
        row.id,
        row.type,
        row.amount_usd,
        row.balance_after_usd,
        row.reference,
        row.description,
        row.model,
        row.created_at,
      ]);
    expect(await rows(alice.key)).toEqual([
      [
        "9789c362-ea38-5a1c-9914-28ff26c72b7f",
        "charge",
        -0.01,
        19.968,
        "job:gen_Qz4Qgboqm5RerSCdC02gpV",
        null,
        "qwen3-8b",
        "2026-11-20T09:08:40.000Z",
      ],
      [
        "756ffcbc-0625-5dc5-b237-055e837d7c41",
        "charge",
        -0.002,
        19.978,
        "job:gen_3SSZSKKqehQC4covYt8GWw",
        null,
        "kokoro",
        "2026-11-20T09:08:00.000Z",
      ],
      [
        "462c60ff-d836-5245-9353-1eb6c326652b",
        "charge",
        -0.01,
        19.98,
        "inference:inf_cJ8K8KZ0r0GWV0P3OtSR",
        null,
        "qwen3-8b",
        "2026-11-20T09:05:20.000Z",
      ],
      [
        "cc5c8d40-b4ac-5f88-b002-5fb8e3632fc8",
        "charge",
        -0.01,
        19.99,
        "inference:inf_Ikmt3UB3pCoowQO7ZNDz",
        null,
        "qwen3-8b",
        "2026-11-20T09:05:00.000Z",
      ],
      [
        "88aeabd3-6205-5535-89a2-bf40db524b94",
        "bonus",
        5,
        20,
        "cs_fixture_1",
        "first_purchase_bonus",
        null,
        "2026-11-20T09:02:30.000Z",
      ],
      [
        "bac1b713-21a5-5a4b-b2c0-7b4af933a55f",
        "purchase",
        10,
        15,
        "cs_fixture_1",
        "stripe purchase",
        null,
        "2026-11-20T09:02:30.000Z",
      ],
      [
        "6ac1281e-a81f-59de-98ed-b0de2bd7aa4a",
        "grant",
        5,
        5,
        "grant_7zIkxibc0aZiNtNfyQXGil",
        "welcome",
        null,
        "2026-11-20T09:01:00.000Z",
      ],
    ]);
    const bobRows = await rows(bob.key);
    expect(bobRows.map((row: unknown[]) => row.slice(1, 7))).toEqual([
      ...[2.931, 2.9425, 2.954, 2.9655, 2.977, 2.9885].map((after) => [
        "charge",
        -0.0115,
        after,
        `deployment:${POD_ID}`,
        null,
        "mistral",
      ]),
      ["grant", 3, 3, "grant_Rq2YCOIO8HmDPitlib5ID4", "trial", null],
    ]);
    expect(bobRows.map((row: unknown[]) => row[7])).toEqual([
      "2026-11-20T09:21:15.000Z",
      "2026-11-20T09:20:00.000Z",
      "2026-11-20T09:14:05.000Z",
      "2026-11-20T09:13:10.000Z",
      "2026-11-20T09:12:10.000Z",
      "2026-11-20T09:11:30.000Z",
      "2026-11-20T09:01:00.000Z",
    ]);
    expect((await rows(carol.key)).map((row: unknown[]) => row.slice(1, 6))).toEqual([
      ["grant", -0.5, 1.5, "grant_UXSwSAhF5GFtqMhX7IzDPN", "correction"],
      ["grant", 2, 2, "grant_QYosTBvEFG1ItwJq8L4vk9", "trial"],
    ]);

    const usage = await get("/api/billing/usage?group_by=model", alice.key);
    expect(usage.body.data).toEqual([
      { model: "kokoro", requests: 1, refunds: 0, cost_usd: 0.002 },
      { model: "qwen3-8b", requests: 3, refunds: 0, cost_usd: 0.03 },
    ]);
    expect(usage.body.total_cost_usd).toBe(0.032);
    const bobUsage = await get("/api/billing/usage?group_by=model", bob.key);
    expect(bobUsage.body.data).toEqual([
      { model: "mistral", requests: 6, refunds: 0, cost_usd: 0.069 },
    ]);
  });

  it("refuses the revoked key and accepts the live keys, the old session and the old password", async () => {
    const revoked = await get("/api/billing/balance", alice.revokedKey);
    expect(revoked.status).toBe(401);
    expect(revoked.body.error).toBeDefined();
    const keys = await get("/api/keys", alice.key);
    expect(keys.status).toBe(200);
    expect(keys.body.data.map((key: { id: string; name: string }) => [key.id, key.name]))
      .toEqual([[alice.keyId, "primary"]]);
    expect((await get("/api/keys", alice.session)).status).toBe(200);
    // carol's key is read-only: it reads, and may not manage.
    expect((await get("/api/billing/balance", carol.key)).status).toBe(200);
    const refused = await api(gateway.url, "POST", "/api/keys", {
      token: carol.key,
      body: { name: "more", permissions: ["read"] },
    });
    expect(refused.status).toBe(403);
    const login = await api(gateway.url, "POST", "/api/auth/login", {
      body: { email: alice.email, password: credentials.password },
    });
    expect(login.status).toBe(200);
    expect(login.body.token).toMatch(/^mp_sess_/);
  });

  it("shows the deployments in their old states", async () => {
    const pod = await get(`/api/deployments/${POD_ID}`, bob.key);
    expect(pod.status).toBe(200);
    expect(pod.body).toMatchObject({
      id: POD_ID,
      provider: "runpod",
      name: "mistral",
      model: "mistral",
      status: "terminated",
      pod_id: POD_ID,
      gpu_type_id: "NVIDIA GeForce RTX 4090",
      created_at: "2026-11-20T09:10:00.000Z",
      updated_at: "2026-11-20T09:23:00.000Z",
    });
    // 2d68c2d listed no terminated deployment.
    expect((await get("/api/deployments", bob.key)).body.data).toEqual([]);
    const external = await get("/api/deployments", alice.key);
    expect(external.body.data).toEqual([
      expect.objectContaining({
        id: EXTERNAL_ID,
        provider: "external",
        name: "my-vllm",
        model: "Qwen/Qwen3-8B",
        status: "running",
        has_api_key: true,
        created_at: "2026-11-20T09:07:00.000Z",
      }),
    ]);
  });

  it("shows the generation jobs with their statuses and costs", async () => {
    const jobs = await get("/api/jobs?limit=100", alice.key);
    expect(jobs.status).toBe(200);
    expect(
      jobs.body.data.map((job: any) => [job.id, job.kind, job.model, job.status, job.cost]),
    ).toEqual([
      ["gen_Qz4Qgboqm5RerSCdC02gpV", "text", "qwen3-8b", "completed", 0.01],
      ["gen_BOdDgdJkyaue4J63Ln9deT", "image", "flux-dev", "failed", 0],
      ["gen_3SSZSKKqehQC4covYt8GWw", "audio", "kokoro", "completed", 0.002],
    ]);
    const failed = await get("/api/jobs/gen_BOdDgdJkyaue4J63Ln9deT", alice.key);
    expect(failed.body).toMatchObject({ status: "failed", failure_reason: "FAILED", cost: 0 });
    const text = await get("/api/jobs/gen_Qz4Qgboqm5RerSCdC02gpV", alice.key);
    expect(text.body).toMatchObject({ status: "completed", text: "Echo: Cold hello" });
  });

  it("bills a new request on top of the old ledger exactly once, and still never re-bills the old pod", async () => {
    const client = new OpenAI({ apiKey: alice.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: "qwen3-8b",
      messages: [{ role: "user", content: "hello again" }],
    });
    expect(completion.choices[0].message.content).toBeTruthy();
    await gateway.app.get(UsageRecorder).flush();
    clock.advance(5 * 60_000);
    expect((await gateway.app.get(PodMetering).meterNow()).charged).toEqual([]);
    expect(await gateway.app.get(ChargeReconciler).sweep()).toBe(0);
    const ledgerAppended = (await appended()).filter((event) =>
      event.stream.startsWith("ledger-") || event.stream.startsWith("deployment-")
    );
    expect(ledgerAppended.map((event) => [event.stream, event.type])).toEqual([
      [`ledger-${alice.accountId}`, "CreditsReserved"],
      [`ledger-${alice.accountId}`, "CreditsCharged"],
    ]);
    const balance = await get("/api/billing/balance", alice.key);
    expect(balance.body).toMatchObject({ balance_usd: 19.958, available_usd: 19.958 });
  });

  it("passes the audit CLI with no problem", async () => {
    const runner = gateway.app.get(ProjectionRunner);
    await runner.waitFor(await store.headPosition());
    await gateway.close({ keepData: true });
    closed = true;
    const result = cli(dataDir, "audit");
    expect(result.stderr).not.toContain("error:");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      accounts: 3,
      totalBalanceMicros: usdToMicros(19.958 + 2.931 + 1.5),
      totalWrittenOffMicros: 0,
      problems: 0,
      accountsWithProblems: [],
    });
    const past = JSON.parse(
      cli(dataDir, "balance", alice.accountId, "--at", "2026-11-20T09:06:00.000Z").stdout,
    );
    expect(past.balance_usd).toBe(19.98);
  });
});
