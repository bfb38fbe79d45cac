import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ManualClock } from "../../src/common/clock.ts";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { ProjectionRunner } from "../../src/projections/projection-runner.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";
import {
  CORRUPTED_INVARIANTS,
  type Corruption,
  makeCorruptedStores,
} from "../fixtures/corrupted/make.ts";

const FIXTURE = new URL("../fixtures/store-2d68c2d/events.sqlite", import.meta.url).pathname;

function cli(dataDir: string, ...args: string[]) {
  const result = spawnSync(process.execPath, ["run", "-A", "src/cli/main.ts", ...args], {
    env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "silent" },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function verifyJson(dataDir: string, ...args: string[]) {
  const result = cli(dataDir, "verify", "--json", ...args);
  expect(result.stderr).not.toContain("error:");
  return { code: result.code, report: JSON.parse(result.stdout) };
}

describe("cli verify, rebuild and export", () => {
  const root = mkdtempSync(join(tmpdir(), "modelpilot-verify-spec-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("finds every invariant holding on the 2d68c2d fixture store", () => {
    const dataDir = join(root, "clean");
    copyDir(dataDir);
    const { code, report } = verifyJson(dataDir);
    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
    expect(report.events).toBe(67);
    expect(report.invariants.map((i: { name: string }) => i.name)).toEqual(
      CORRUPTED_INVARIANTS.filter((name) => name !== "read-models"),
    );
    expect(report.skipped).toEqual([
      { name: "read-models", reason: "no live read-model file to compare with" },
    ]);
    // The human report says the same.
    const text = cli(dataDir, "verify");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("ok   pod-minutes");
    expect(text.stdout).toContain("all invariants hold");
  });

  describe("on corrupted copies of the fixture", () => {
    let corrupted: Corruption[];
    beforeAll(async () => {
      corrupted = await makeCorruptedStores(join(root, "corrupted"));
    });

    it("makes one store per invariant", () => {
      expect(corrupted.map((c) => c.invariant).sort()).toEqual([...CORRUPTED_INVARIANTS].sort());
    });

    it.each(CORRUPTED_INVARIANTS)("fails on the %s store, naming the invariant and the event", (
      invariant,
    ) => {
      const store = corrupted.find((c) => c.invariant === invariant)!;
      const { code, report } = verifyJson(store.dataDir);
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      // Exactly this invariant broke; every other one still holds.
      const broken = report.invariants.filter((i: { violations: number }) => i.violations > 0);
      expect(broken).toEqual([{ name: invariant, violations: 1 }]);
      expect(report.findings).toHaveLength(1);
      expect(report.findings[0].invariant).toBe(invariant);
      if (store.eventId) expect(report.findings[0].event.id).toBe(store.eventId);
      else expect(report.findings[0].message).toContain("table billing_balances");
      // --invariant runs that one alone, with the same finding and exit code.
      const alone = verifyJson(store.dataDir, "--invariant", invariant);
      expect(alone.code).toBe(1);
      expect(alone.report.invariants).toEqual([{ name: invariant, violations: 1 }]);
    });

    it("prints the offending event's position, stream and id", () => {
      const store = corrupted.find((c) => c.invariant === "request-charge")!;
      const result = cli(store.dataDir, "verify");
      expect(result.code).toBe(1);
      expect(result.stdout).toContain("FAIL request-charge: 1 violation");
      expect(result.stdout).toContain(
        `[position 68, stream ledger-acct_dK3FPmoVX7M7079AmMA5bt, CreditsCharged ${store.eventId}]`,
      );
    });
  });

  describe("on a store a normal service run wrote", () => {
    let app: TestApp;
    let dataDir: string;
    let accountId: string;
    let closed = false;

    beforeAll(async () => {
      const clock = new ManualClock(new Date("2026-03-01T10:00:00.000Z"));
      app = await startTestApp({ clock });
      dataDir = app.dataDir;
      const account = await api(app.url, "POST", "/admin/accounts", {
        token: TEST_ADMIN_KEY,
        body: { email: "verify@example.com" },
      });
      accountId = account.body.id;
      await api(app.url, "POST", `/admin/accounts/${accountId}/credits`, {
        token: TEST_ADMIN_KEY,
        body: { amount_usd: 3, reason: "trial" },
      });
      const ledger = app.app.get(LedgerService);
      await ledger.reserve(accountId, {
        reservationId: "req_verify_hold",
        amountMicros: 400_000,
        reference: "inference:req_verify_hold",
      });
      await ledger.settle(accountId, {
        reservationId: "req_verify_hold",
        amountMicros: 300_000,
        reference: "inference:req_verify_hold",
      });
      await ledger.reserve(accountId, {
        reservationId: "req_verify_released",
        amountMicros: 100_000,
        reference: "inference:req_verify_released",
      });
      await ledger.release(accountId, { reservationId: "req_verify_released", reason: "failed" });
      await ledger.charge(accountId, {
        chargeId: "req_verify_refunded",
        amountMicros: 50_000,
        reference: "req_verify_refunded",
      });
      await ledger.refund(accountId, { chargeId: "req_verify_refunded", reason: "goodwill" });
      const store = app.app.get<EventStore>(EVENT_STORE);
      await app.app.get(ProjectionRunner).waitFor(await store.headPosition());
    });

    afterAll(async () => {
      if (!closed) await app?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it("refuses to rebuild while the service holds the read models", () => {
      const result = cli(dataDir, "rebuild");
      expect(result.code).toBe(3);
      expect(result.stderr).toContain("is in use (is the service running?)");
    });

    it("verifies clean, the live read models included, once the service stopped", async () => {
      await app.close({ keepData: true });
      closed = true;
      const { code, report } = verifyJson(dataDir);
      expect(report.findings).toEqual([]);
      expect(code).toBe(0);
      expect(report.skipped).toEqual([]);
      expect(report.readModelTables).toBeGreaterThan(5);
      expect(report.totalBalanceMicros).toBe(2_700_000);
    });

    it("rebuilds the read models offline, and they still verify", () => {
      const result = cli(dataDir, "--json", "rebuild", "billing-ledger", "auth-accounts");
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({
        projections: ["billing-ledger", "auth-accounts"],
      });
      expect(cli(dataDir, "rebuild", "no-such-projection").code).toBe(2);
      expect(verifyJson(dataDir, "--invariant", "read-models").code).toBe(0);
    });

    it("exports a range as redacted JSONL, filtered by type and stream", () => {
      const all = cli(dataDir, "events").stdout.trim().split("\n").map((l) => JSON.parse(l));
      const ledgerEvents = all.filter((e) => e.stream === `ledger-${accountId}`);
      const from = ledgerEvents[1].position;
      const to = ledgerEvents[3].position;
      const result = cli(
        dataDir,
        "export",
        "--from",
        from,
        "--to",
        to,
        "--stream-prefix",
        "ledger-",
      );
      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split("\n").map((l) => JSON.parse(l));
      expect(lines.map((e) => e.position)).toEqual(ledgerEvents.slice(1, 4).map((e) => e.position));
      const charges = cli(
        dataDir,
        "export",
        "--type",
        "CreditsCharged",
        "--from",
        "1970-01-01T00:00:00Z",
      );
      expect(charges.stdout.trim().split("\n").map((l) => JSON.parse(l).type)).toEqual([
        "CreditsCharged",
        "CreditsCharged",
      ]);
      const none = cli(dataDir, "export", "--to", "2000-01-01T00:00:00Z");
      expect(none.stdout).toBe("");
      // Redacted like `events`: no secret leaves through an export.
      expect(cli(dataDir, "export").stdout).not.toMatch(/passwordHash|keyHash|ciphertext/i);
    });
  });

  it("exits 2 on usage errors and 3 without a store", () => {
    const missing = join(root, "missing");
    expect(cli(missing, "verify", "--invariant", "nonsense").code).toBe(2);
    const noStore = cli(missing, "verify");
    expect(noStore.code).toBe(3);
    expect(noStore.stderr).toContain("no event store at");
    expect(cli(missing, "export", "--from", "yesterday").code).toBe(2);
    const help = cli(missing, "verify", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--invariant <name...>");
  });
});

/** A temp copy of the fixture store in its own owner-only data directory. */
function copyDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o700);
  copyFileSync(FIXTURE, join(dataDir, "events.sqlite"));
}
