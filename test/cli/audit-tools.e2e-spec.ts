import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { allProjections } from "../../src/audit/all-projections.ts";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { ProjectionRunner } from "../../src/projections/projection-runner.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

/**
 * replay, statement, timeline and reprice on a copy of the store 2d68c2d wrote
 * (test/fixtures/store-2d68c2d, never edited), plus one refund the current code appends, and
 * the admin routes that read replays and timelines. Expected amounts come from the fixture's
 * own README and ledger (alice: grant 5, purchase 10 + bonus 5, two 0.01 requests, one failed
 * request released, jobs of 0.002 and 0.01 charged, one of 0.02 failed and released).
 */
const FIXTURE = new URL("../fixtures/store-2d68c2d/", import.meta.url).pathname;
const credentials = JSON.parse(readFileSync(join(FIXTURE, "credentials.json"), "utf8"));
const ALICE = credentials.accounts.alice.accountId as string;
const AUDIO_JOB = "gen_3SSZSKKqehQC4covYt8GWw";

function cli(dataDir: string, ...args: string[]) {
  const result = spawnSync(process.execPath, ["run", "-A", "src/cli/main.ts", ...args], {
    env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "silent" },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("replay, statement, timeline and reprice", () => {
  let app: TestApp;
  let dataDir: string;
  let store: EventStore;
  let head: bigint;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "modelpilot-audit-tools-"));
    copyFileSync(join(FIXTURE, "events.sqlite"), join(dataDir, "events.sqlite"));
    app = await startTestApp({
      dataDir,
      clock: new ManualClock(new Date("2026-11-20T09:40:00.000Z")),
      env: { SECRETS_KEY: credentials.secretsKey, CHARGE_RECONCILE_INTERVAL_MS: "3600000" },
    });
    store = app.app.get<EventStore>(EVENT_STORE);
    // job → charge → refund: the audio job's charge comes back.
    await app.app.get(LedgerService).refund(ALICE, { chargeId: AUDIO_JOB, reason: "bad_output" }, {
      actor: "admin",
    });
    head = await store.headPosition();
    await app.app.get(ProjectionRunner).waitFor(head, undefined, 20_000);
  });

  afterAll(async () => {
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("knows every projection the running service registers", () => {
    const running = app.app.get(ProjectionRunner).projections.map((p) => p.name).sort();
    expect(allProjections().map((p) => p.name).sort()).toEqual(running);
  });

  it("replays to a position into its own file, and to the head equal to the live read models", () => {
    const early = cli(dataDir, "replay", "--to", "30");
    expect(early.stderr).not.toContain("error:");
    expect(early.code).toBe(0);
    expect(early.stdout.trim()).toBe(join(dataDir, "replays", "pos-30.sqlite"));
    const replay = new DatabaseSync(early.stdout.trim(), { readOnly: true });
    expect(
      replay.prepare(
        "SELECT balance_micros, held_micros FROM billing_balances WHERE account_id = ?",
      )
        .get(ALICE),
    ).toEqual({ balance_micros: 19_980_000, held_micros: 0 });
    // The release at 29 and the failure at 30 are in; the external deployment at 31 is not.
    expect(replay.prepare("SELECT count(*) AS n FROM deployments").get()).toEqual({ n: 0 });
    replay.close();

    const full = JSON.parse(
      cli(dataDir, "--json", "replay", "--to", String(head), "--name", "now").stdout,
    );
    expect(full).toMatchObject({ name: "now", last_position: String(head), events: Number(head) });
    const replayed = new DatabaseSync(full.path, { readOnly: true });
    const live = new DatabaseSync(join(dataDir, "read-models.main.sqlite"), { readOnly: true });
    for (const table of ["billing_balances", "billing_transactions", "generation_jobs"]) {
      const query = `SELECT * FROM ${table} ORDER BY 1, 2`;
      expect({ table, rows: replayed.prepare(query).all() }).toEqual({
        table,
        rows: live.prepare(query).all(),
      });
    }
    replayed.close();
    live.close();
  });

  it("replays to an ISO time, and refuses a bad bound or name with exit 2", () => {
    const before = cli(dataDir, "--json", "replay", "--to", "2000-01-01T00:00:00Z");
    expect(JSON.parse(before.stdout)).toMatchObject({ name: "at-20000101T000000Z", events: 0 });
    expect(cli(dataDir, "replay", "--to", "yesterday").code).toBe(2);
    expect(cli(dataDir, "replay", "--to", "5", "--name", "../escape").code).toBe(2);
  });

  it("serves replays read-only under /admin/replays, path-safe", async () => {
    const get = (path: string) => api(app.url, "GET", path, { token: TEST_ADMIN_KEY });
    const list = await get("/admin/replays");
    expect(list.status).toBe(200);
    expect(list.body.data.map((replay: { name: string }) => replay.name)).toEqual(
      expect.arrayContaining(["pos-30", "now"]),
    );
    expect(list.body.data.find((r: { name: string }) => r.name === "pos-30")).toMatchObject({
      bound: "30",
      last_position: 30,
      events: 30,
    });
    const balance = await get(`/admin/replays/pos-30/accounts/${ALICE}/balance`);
    expect(balance.body).toMatchObject({ as_of_position: 30, balance_usd: 19.98, held_usd: 0 });
    const transactions = await get(`/admin/replays/pos-30/accounts/${ALICE}/transactions?limit=2`);
    expect(transactions.body.data.map((row: { amount_usd: number }) => row.amount_usd)).toEqual([
      -0.01,
      -0.01,
    ]);
    expect(transactions.body.has_more).toBe(true);
    const next = await get(
      `/admin/replays/pos-30/accounts/${ALICE}/transactions?before=${transactions.body.next_before}`,
    );
    expect(next.body.data.map((row: { amount_usd: number }) => row.amount_usd)).toEqual([5, 10, 5]);
    for (const name of ["missing", "..", "..%2Fevents", "pos-30.sqlite"]) {
      const refused = await get(`/admin/replays/${name}/accounts/${ALICE}/balance`);
      expect([name, refused.status]).toEqual([name, 404]);
    }
    const unauthenticated = await api(app.url, "GET", "/admin/replays");
    expect(unauthenticated.status).toBe(401);
  });

  it("links every event of an account to its cause, in the CLI and the admin API", async () => {
    const result = cli(dataDir, "--json", "timeline", ALICE);
    expect(result.code).toBe(0);
    const entries = JSON.parse(result.stdout).data as any[];
    const at = (position: number) => entries.find((entry) => entry.position === position);
    // Only alice's events: bob's pod minutes are not hers.
    expect(entries.some((entry) => entry.stream === "deployment-isykuzql8hk8ba")).toBe(false);
    // request → hold → settlement
    expect(at(23)).toMatchObject({
      type: "CreditsCharged",
      cause: { kind: "request", id: "req_OIS9Qyxn0lRz2WjktMFRpIQB" },
      links: expect.arrayContaining([{
        rel: "hold",
        id: "inf_Ikmt3UB3pCoowQO7ZNDz",
        position: 22,
      }]),
    });
    // payment → purchase → bonus
    expect(at(21)).toMatchObject({
      cause: { kind: "payment", id: "cs_fixture_1" },
      links: [{ rel: "purchase", id: "cs_fixture_1", position: 20 }],
    });
    expect(at(20).links).toEqual([{ rel: "stripe_event", id: "evt_fixture_1", position: null }]);
    // job → charge → refund
    const refund = entries.find((entry) => entry.type === "CreditsRefunded");
    expect(refund).toMatchObject({
      actor: "admin",
      cause: { kind: "job", id: AUDIO_JOB },
      links: [{ rel: "charge", id: AUDIO_JOB, position: 36 }],
    });
    expect(at(16)).toMatchObject({ cause: { kind: "grant", id: "grant_7zIkxibc0aZiNtNfyQXGil" } });

    const first = await api(app.url, "GET", `/admin/accounts/${ALICE}/timeline?limit=5`, {
      token: TEST_ADMIN_KEY,
    });
    expect(first.status).toBe(200);
    expect(first.body.data.map((entry: any) => entry.position)).toEqual(
      entries.slice(0, 5).map((entry) => entry.position),
    );
    const second = await api(
      app.url,
      "GET",
      `/admin/accounts/${ALICE}/timeline?limit=500&after=${first.body.next_after}`,
      { token: TEST_ADMIN_KEY },
    );
    expect(second.body.data.map((entry: any) => entry.position)).toEqual(
      entries.slice(5).map((entry) => entry.position),
    );
    expect(second.body.next_after).toBeNull();
    const bad = await api(app.url, "GET", `/admin/accounts/${ALICE}/timeline?limit=0`, {
      token: TEST_ADMIN_KEY,
    });
    expect(bad.status).toBe(400);
  });

  it("prints a statement from events alone whose movements add up", () => {
    const json = JSON.parse(
      cli(dataDir, "statement", ALICE, "--from", "2026-11-20T09:02:00Z", "--format", "json").stdout,
    );
    expect(json.opening_balance_micros).toBe(5_000_000);
    const sum = json.movements.reduce((total: number, m: any) => total + m.amount_micros, 0);
    expect(json.opening_balance_micros + sum).toBe(json.closing_balance_micros);
    // 5 + 10 + 5 − 0.01 − 0.01 − 0.002 − 0.01 + 0.002 (the refund)
    expect(json.closing_balance_usd).toBe(19.97);
    const charge = json.movements.find((m: any) => m.position === 23);
    expect(charge).toMatchObject({
      cause: { kind: "request", id: "req_OIS9Qyxn0lRz2WjktMFRpIQB" },
      detail: { inference_id: "inf_Ikmt3UB3pCoowQO7ZNDz", prompt_tokens: 5, model: "qwen3-8b" },
    });
    const refund = json.movements.find((m: any) => m.type === "CreditsRefunded");
    expect(refund).toMatchObject({
      amount_usd: 0.002,
      cause: { kind: "job", id: AUDIO_JOB },
      detail: { reason: "bad_output", actor: "admin", job_kind: "audio" },
    });
    const balance = JSON.parse(cli(dataDir, "balance", ALICE).stdout);
    expect(balance.balance_usd).toBe(json.closing_balance_usd);

    const csv = cli(dataDir, "statement", ALICE, "--to", "2026-11-20T09:06:00Z").stdout.split(
      "\r\n",
    );
    expect(csv[0]).toBe("position,at,type,amount_usd,balance_after_usd,cause_kind,cause_id,detail");
    expect(csv[1]).toBe(",1970-01-01T00:00:00.000Z,opening_balance,,0");
    expect(csv.at(-2)).toBe(",2026-11-20T09:06:00.000Z,closing_balance,,19.98");
    expect(csv[2]).toContain("CreditsGranted,5,5,grant,grant_7zIkxibc0aZiNtNfyQXGil");
    expect(cli(dataDir, "statement", ALICE, "--format", "xml").code).toBe(2);
  });

  it("reprices recorded usage under another price table and writes nothing", async () => {
    const prices = join(dataDir, "prices.json");
    writeFileSync(
      prices,
      JSON.stringify({
        models: [{ id: "qwen3-8b", price_usd: 0.02 }, { id: "kokoro", price_usd: 0.001 }],
      }),
    );
    const eventsBefore = statSync(join(dataDir, "events.sqlite")).mtimeMs;
    const result = cli(dataDir, "--json", "reprice", "--prices", prices);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    const row = (model: string, usage: string) =>
      report.models.find((entry: any) => entry.model === model && entry.usage === usage);
    expect(row("qwen3-8b", "inference")).toMatchObject({
      count: 2,
      recorded_usd: 0.02,
      repriced_usd: 0.04,
      difference_usd: 0.02,
    });
    expect(row("kokoro", "audio")).toMatchObject({
      count: 1,
      recorded_usd: 0.002,
      repriced_usd: 0.001,
    });
    // The failed flux-dev job was never charged, so it is no usage.
    expect(report.models.some((entry: any) => entry.model === "flux-dev")).toBe(false);
    expect(row("deployment:isykuzql8hk8ba", "pod_minute")).toMatchObject({
      count: 6,
      difference_usd: 0,
    });
    expect(report.total.difference_usd).toBe(0.029);
    expect(await store.headPosition()).toBe(head);
    expect(statSync(join(dataDir, "events.sqlite")).mtimeMs).toBe(eventsBefore);

    const table = cli(dataDir, "reprice", "--prices", prices, "--to", "2026-11-20T09:06:00Z");
    expect(table.stdout.split("\n")[0]).toMatch(/^model\s+usage\s+count\s+recorded_usd/);
    writeFileSync(prices, JSON.stringify({ models: [{ id: "x", price_usd: "cheap" }] }));
    expect(cli(dataDir, "reprice", "--prices", prices).code).toBe(2);
  });
});
