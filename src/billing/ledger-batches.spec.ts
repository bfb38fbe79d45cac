import { DatabaseSync } from "node:sqlite";
import { seededIntegers } from "../../test/support/seeded-random.ts";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import type { Projection } from "../projections/projection.ts";
import { LedgerHistoryProjection, recallKey } from "./ledger-history.projection.ts";
import { LedgerProjection } from "./ledger.projection.ts";

/**
 * Ledger events over 3 accounts and 12 keys, so keys collide: holds placed twice, released
 * twice, settled after a release, charged without a hold, written off, refunded; business
 * times that sometimes go back (at_max).
 */
function history(seed: number, length: number): RecordedEvent[] {
  const next = seededIntegers(seed);
  const events: RecordedEvent[] = [];
  for (let index = 0; index < length; index++) {
    const accountId = `acct_${next(3)}`;
    const key = `k${next(12)}`;
    const amountMicros = 1 + next(1_000);
    const at = new Date(Date.UTC(2026, 0, 1) + index * 1_000 - next(4) * 3_000).toISOString();
    const choice = next(8);
    const [type, data]: [string, Record<string, unknown>] = choice === 0
      ? ["CreditsGranted", { grantId: key, amountMicros, reason: "test", actor: "admin" }]
      : choice === 1
      ? ["CreditsPurchased", { paymentReference: key, amountMicros, provider: "stripe" }]
      : choice <= 3
      ? ["CreditsReserved", {
        reservationId: key,
        amountMicros,
        reference: key,
        expiresAt: at,
        model: "m",
      }]
      : choice === 4
      ? ["ReservationReleased", { reservationId: key, amountMicros, reason: "test" }]
      : choice === 5
      ? ["CreditsCharged", {
        chargeId: key,
        amountMicros,
        reference: key,
        ...(next(4) > 0 ? { reservationId: next(2) ? key : `k${next(12)}` } : {}),
      }]
      : choice === 6
      ? ["CreditsRefunded", { chargeId: key, amountMicros, reason: "test" }]
      : ["ChargeWrittenOff", { chargeId: key, amountMicros, reservationId: key }];
    events.push({
      position: BigInt(index + 1),
      id: `event-${index}`,
      stream: `ledger-${accountId}`,
      type,
      data: { accountId, ...data, at },
    } as unknown as RecordedEvent);
  }
  return events;
}

/** Applies the events one by one into one database, and in batches of random sizes into another. */
function oneByOneAndBatched(projection: Projection, events: RecordedEvent[], seed: number) {
  const oneByOne = new DatabaseSync(":memory:");
  projection.setup(oneByOne);
  for (const event of events) projection.apply(event, oneByOne);
  const batched = new DatabaseSync(":memory:");
  projection.setup(batched);
  const sizes = seededIntegers(seed + 100);
  for (let start = 0; start < events.length;) {
    const end = Math.min(events.length, start + 1 + sizes(700));
    projection.applyBatch!(events.slice(start, end), batched);
    start = end;
  }
  return { oneByOne, batched };
}

function rows(db: DatabaseSync, table: string) {
  return db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all();
}

// apply() is applyBatch() of one event, which reads back everything the batch before it wrote:
// the event-by-event result is the reference the batched one must equal.
describe("ledger read models applied in batches", () => {
  it.each([1, 2, 3, 4, 5])("billing-ledger-history: the same rows (seed %i)", (seed) => {
    const { oneByOne, batched } = oneByOneAndBatched(
      new LedgerHistoryProjection(),
      history(seed, 2_000),
      seed,
    );
    expect(rows(batched, "billing_ledger_history")).toEqual(
      rows(oneByOne, "billing_ledger_history"),
    );
    for (let key = 0; key < 12; key++) {
      expect(recallKey(batched, "acct_0", `k${key}`)).toEqual(
        recallKey(oneByOne, "acct_0", `k${key}`),
      );
    }
  });

  it.each([1, 2, 3, 4, 5])(
    "billing-ledger: the same balances, holds and transactions (seed %i)",
    (seed) => {
      const { oneByOne, batched } = oneByOneAndBatched(
        new LedgerProjection(),
        history(seed, 2_000),
        seed,
      );
      for (const table of ["billing_balances", "billing_holds", "billing_transactions"]) {
        expect(rows(batched, table)).toEqual(rows(oneByOne, table));
      }
      expect(rows(oneByOne, "billing_holds").length).toBeGreaterThan(0);
    },
  );
});
