import { seededIntegers } from "../../../test/support/seeded-random.ts";
import { evolve, initialLedgerState } from "../../billing/ledger.decider.ts";
import type { LedgerEvent } from "../../billing/ledger.events.ts";
import { evolveMoney, type MoneyFold } from "./ledger-checks.ts";

/**
 * A history that also does what the decider never decides: holds placed twice, released twice,
 * settled after a release, written off, unknown holds closed — over few ids, so they collide.
 */
function history(seed: number, length: number): LedgerEvent[] {
  const next = seededIntegers(seed);
  const events: LedgerEvent[] = [];
  const accountId = "acct_fold";
  const at = "2026-01-01T00:00:00.000Z";
  const hold = () => `hold${next(12)}`;
  for (let index = 0; index < length; index++) {
    const id = `event${index}`;
    const amountMicros = 1 + next(5_000);
    const reservationId = next(3) === 0 ? undefined : hold();
    const candidates: LedgerEvent[] = [
      {
        type: "CreditsPurchased",
        id,
        data: { accountId, amountMicros, paymentReference: `pay${index}`, provider: "test", at },
      },
      { type: "CreditsGranted", id, data: { accountId, amountMicros, grantId: `g${index}`, at } },
      {
        type: "CreditsReserved",
        id,
        data: { accountId, reservationId: hold(), amountMicros, expiresAt: at, at },
      },
      { type: "ReservationReleased", id, data: { accountId, reservationId: hold(), at } },
      {
        type: "CreditsCharged",
        id,
        data: { accountId, chargeId: `c${next(12)}`, amountMicros, reservationId, at },
      },
      {
        type: "CreditsRefunded",
        id,
        data: { accountId, chargeId: `c${next(12)}`, amountMicros, at },
      },
      {
        type: "ChargeWrittenOff",
        id,
        data: { accountId, chargeId: `c${next(12)}`, reservationId, at },
      },
    ] as unknown as LedgerEvent[];
    events.push(candidates[next(candidates.length)]);
  }
  return events;
}

describe("verify's money fold", () => {
  it.each([1, 2, 3, 4, 5])(
    "keeps the decider's balance and held amount after every event (seed %i)",
    (seed) => {
      // A small key window makes the decider forget closed holds, as verify's old fold did.
      let state = initialLedgerState(4);
      const money: MoneyFold = { balanceMicros: 0, heldMicros: 0, openHolds: new Map() };
      const events = history(seed, 2_000);
      let holdsClosedByCharge = 0;
      for (const event of events) {
        const heldBefore = money.heldMicros;
        state = evolve(state, event);
        evolveMoney(money, event.type, event.data);
        if (event.type === "CreditsCharged" && money.heldMicros < heldBefore) {
          holdsClosedByCharge++;
        }
        expect([money.balanceMicros, money.heldMicros]).toEqual([
          state.balanceMicros,
          state.heldMicros,
        ]);
      }
      // The history did exercise the hold rules, not just the balance.
      expect(holdsClosedByCharge).toBeGreaterThan(10);
      expect(state.forgottenKeys).toBeGreaterThan(0);
    },
  );
});
