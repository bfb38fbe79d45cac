import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { ManualClock } from "../../src/common/clock.ts";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { ProjectionRunner } from "../../src/projections/projection-runner.ts";
import { api, startTestApp, TEST_ADMIN_KEY } from "../support/test-app.ts";

function cli(dataDir: string, ...args: string[]) {
  const result = spawnSync(process.execPath, ["run", "-A", "src/cli/main.ts", ...args], {
    env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "silent" },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("audit and replay CLI", () => {
  let dataDir: string;
  let accountId: string;

  beforeAll(async () => {
    const clock = new ManualClock(new Date("2026-03-01T10:00:00.000Z"));
    const app = await startTestApp({ clock });
    dataDir = app.dataDir;
    const account = await api(app.url, "POST", "/admin/accounts", {
      token: TEST_ADMIN_KEY,
      body: { email: "audit@example.com" },
    });
    accountId = account.body.id;
    const granted = await api(app.url, "POST", `/admin/accounts/${accountId}/credits`, {
      token: TEST_ADMIN_KEY,
      body: { amount_usd: 2, reason: "trial" },
    });
    expect(granted.status).toBe(201);
    clock.set(new Date("2026-03-01T12:00:00.000Z"));
    const ledger = app.app.get(LedgerService);
    for (let i = 0; i < 3; i++) {
      await ledger.charge(accountId, {
        chargeId: `req_audit_${i}`,
        amountMicros: 250_000,
        reference: `req_audit_${i}`,
      });
    }
    // The read model must hold every event before the app stops, so the audit can compare.
    const store = app.app.get<EventStore>(EVENT_STORE);
    await app.app.get(ProjectionRunner).waitFor(await store.headPosition());
    await app.close({ keepData: true });
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("audits every ledger by replay and agrees with the read model", () => {
    const result = cli(dataDir, "audit");
    expect(result.stderr).not.toContain("error:");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.accounts).toBe(1);
    expect(report.events).toBe(4);
    expect(report.totalBalanceMicros).toBe(1_250_000);
    expect(report.problems).toBe(0);
  });

  it("replays an account's balance at an instant", () => {
    const before = JSON.parse(
      cli(dataDir, "balance", accountId, "--at", "2026-03-01T11:00:00.000Z").stdout,
    );
    expect(before.balance_usd).toBe(2);
    expect(before.events_replayed).toBe(1);
    const after = JSON.parse(
      cli(dataDir, "balance", accountId, "--at", "2026-03-01T13:00:00.000Z").stdout,
    );
    expect(after.balance_usd).toBe(1.25);
  });

  it("prints $all as JSON lines and filters by type", () => {
    const result = cli(dataDir, "events", "--type", "CreditsCharged");
    const lines = result.stdout.trim().split("\n").map((text) => JSON.parse(text));
    expect(lines).toHaveLength(3);
    expect(lines.every((event) => event.type === "CreditsCharged")).toBe(true);
  });

  it("reports a read model that drifted from the ledger and exits non-zero", () => {
    const db = new DatabaseSync(join(dataDir, "read-models.main.sqlite"));
    db.prepare(
      "UPDATE billing_balances SET balance_micros = balance_micros + 1 WHERE account_id = ?",
    )
      .run(accountId);
    db.close();
    const result = cli(dataDir, "audit");
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.accountsWithProblems[0].problems.join("\n")).toContain(
      "read model balance 1250001 != replayed 1250000",
    );
  });

  it("explains its usage on a bad command", () => {
    const result = cli(dataDir, "frobnicate");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("usage: npm run cli");
  });
});
