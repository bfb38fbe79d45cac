import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEventStore } from "../../event-store/create-event-store.ts";
import type { EventStore } from "../../event-store/event-store.port.ts";
import { EVENT_SCHEMAS } from "../../event-schemas.ts";
import { makeCorruptedStores } from "../../../test/fixtures/corrupted/make.ts";
import { INVARIANT_NAMES } from "./findings.ts";
import { type VerifyReport, verifyStore } from "./verify.ts";

/** The report without its timings. */
function findingsOf(report: VerifyReport) {
  const { seconds: _seconds, eventsPerSecond: _eventsPerSecond, ...rest } = report;
  return rest;
}

async function verify(store: EventStore): Promise<VerifyReport> {
  return await verifyStore(store, {
    invariants: new Set(INVARIANT_NAMES.filter((name) => name !== "read-models")),
    holdSweepMs: 60_000,
    meteringGraceMs: 75_000,
    settlementGraceMs: 15 * 60_000,
  });
}

describe("verify over the store's lean bulk scan", () => {
  const root = mkdtempSync(join(tmpdir(), "modelpilot-verify-lean-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  // The lean scan fetches metadata, revision and time by position when read (the Stripe event id
  // of a purchase is metadata); the readAll fallback reads whole events. Same reports, findings
  // and offending events included, on every corrupted fixture store.
  it("reports exactly what a pass over whole events reports", async () => {
    const corrupted = await makeCorruptedStores(root);
    for (const { invariant, dataDir } of corrupted) {
      const store = createEventStore(
        { dataDir, eventStoreSync: "normal", eventStoreWriter: "inline" },
        EVENT_SCHEMAS,
      );
      try {
        const wholeEvents = {
          readAll: (options) => store.readAll(options),
          headPosition: () => store.headPosition(),
        } as EventStore;
        const lean = await verify(store);
        expect({ invariant, ...findingsOf(lean) }).toEqual({
          invariant,
          ...findingsOf(await verify(wholeEvents)),
        });
        if (invariant !== "read-models") expect(lean.ok).toBe(false);
      } finally {
        await store.close();
      }
    }
  });

  it("reads a purchase's Stripe event id, which only its metadata holds", async () => {
    const dataDir = join(root, "stripe-event-twice");
    mkdirSync(dataDir, { recursive: true });
    chmodSync(dataDir, 0o700);
    copyFileSync(
      new URL("../../../test/fixtures/store-2d68c2d/events.sqlite", import.meta.url).pathname,
      join(dataDir, "events.sqlite"),
    );
    const store = createEventStore(
      { dataDir, eventStoreSync: "normal", eventStoreWriter: "inline" },
      EVENT_SCHEMAS,
    );
    try {
      // The fixture's one purchase came from Stripe event evt_fixture_1: a second purchase
      // from that event, under another payment reference, differs from it in metadata alone.
      const [purchase] = await store.readAll({ filter: { eventTypes: ["CreditsPurchased"] } });
      const second = await store.append(purchase.stream, [{
        id: crypto.randomUUID(),
        type: "CreditsPurchased",
        data: { ...purchase.data, paymentReference: "cs_second", bonusMicros: 0 },
        metadata: purchase.metadata,
      }]);
      const report = await verify(store);
      expect(report.findings).toEqual([expect.objectContaining({
        invariant: "stripe-purchase",
        message: expect.stringContaining("Stripe event evt_fixture_1 made a second purchase"),
        event: expect.objectContaining({ position: second.position }),
      })]);
    } finally {
      await store.close();
    }
  });
});
