import { deciderSpec } from "../../test/support/decider-spec.ts";
import {
  availableMicros,
  decide,
  evolve,
  initialLedgerState,
  keyToRecall,
  type LedgerCommand,
  ledgerDecider,
  ledgerEventId,
  replayLedger,
} from "./ledger.decider.ts";
import type { LedgerEvent } from "./ledger.events.ts";

const ACCOUNT = "acct_1";
const AT = "2026-01-01T00:00:00.000Z";

const given = (history: LedgerEvent[]) => deciderSpec(ledgerDecider).given(history);

/** Compares decided events by type and the data fields named (ids have their own test). */
function matching(expected: Array<{ type: LedgerEvent["type"]; data: Record<string, unknown> }>) {
  return (events: LedgerEvent[]) =>
    expect(events.map(({ type, data }) => ({ type, data }))).toEqual(
      expected.map(({ type, data }) => ({ type, data: expect.objectContaining(data) })),
    );
}

function granted(amountMicros: number, grantId = "g1"): LedgerEvent {
  return {
    id: ledgerEventId(ACCOUNT, `grant:${grantId}`),
    type: "CreditsGranted",
    data: { accountId: ACCOUNT, grantId, amountMicros, reason: "test", actor: "admin", at: AT },
  };
}

function charged(chargeId: string, amountMicros: number, reservationId?: string): LedgerEvent {
  return {
    id: ledgerEventId(ACCOUNT, `charge:${chargeId}`),
    type: "CreditsCharged",
    data: {
      accountId: ACCOUNT,
      chargeId,
      amountMicros,
      reference: chargeId,
      ...(reservationId ? { reservationId } : {}),
      at: AT,
    },
  };
}

function reserved(reservationId: string, amountMicros: number): LedgerEvent {
  return {
    id: ledgerEventId(ACCOUNT, `reserve:${reservationId}`),
    type: "CreditsReserved",
    data: {
      accountId: ACCOUNT,
      reservationId,
      amountMicros,
      reference: "job_1",
      expiresAt: "2026-01-01T00:15:00.000Z",
      at: AT,
    },
  };
}

const charge = (chargeId: string, amountMicros: number): LedgerCommand => ({
  type: "ChargeCredits",
  accountId: ACCOUNT,
  at: AT,
  chargeId,
  amountMicros,
  reference: chargeId,
});

describe("ledger decider", () => {
  it("credits a first purchase with a separate 50% bonus entry", () => {
    const events = given([]).when({
      type: "PurchaseCredits",
      accountId: ACCOUNT,
      at: AT,
      paymentReference: "cs_1",
      provider: "stripe",
      amountMicros: 10_000_000,
    }).then(matching([
      { type: "CreditsPurchased", data: { amountMicros: 10_000_000, bonusMicros: 5_000_000 } },
      { type: "CreditsGranted", data: { amountMicros: 5_000_000, reason: "first_purchase_bonus" } },
    ]));
    expect(replayLedger(events).balanceMicros).toBe(15_000_000);
  });

  it("gives no bonus on a second purchase and ignores a repeated payment reference", () => {
    const first = decide({
      type: "PurchaseCredits",
      accountId: ACCOUNT,
      at: AT,
      paymentReference: "cs_1",
      provider: "stripe",
      amountMicros: 5_000_000,
    }, initialLedgerState());
    const purchase = (paymentReference: string): LedgerCommand => ({
      type: "PurchaseCredits",
      accountId: ACCOUNT,
      at: AT,
      paymentReference,
      provider: "stripe",
      amountMicros: 7_000_000,
    });
    given(first).when(purchase("cs_2")).then(matching([
      { type: "CreditsPurchased", data: { amountMicros: 7_000_000, bonusMicros: 0 } },
    ]));
    given(first).when({ ...purchase("cs_1") }).then([]);
  });

  it("refuses a purchase under $5", () => {
    given([]).when({
      type: "PurchaseCredits",
      accountId: ACCOUNT,
      at: AT,
      paymentReference: "cs_1",
      provider: "stripe",
      amountMicros: 4_990_000,
    }).thenRejects("below_minimum_purchase");
  });

  it("charges what the balance covers and refuses a charge it cannot cover", () => {
    given([granted(10_000)]).when(charge("req_1", 10_000)).then(matching([
      { type: "CreditsCharged", data: { chargeId: "req_1", amountMicros: 10_000 } },
    ]));
    given([granted(10_000)]).when(charge("req_1", 10_001)).thenRejects("insufficient_credits");
  });

  it("charges the same charge id once", () => {
    given([granted(50_000), charged("req_1", 10_000)]).when(charge("req_1", 10_000)).then([]);
  });

  it("refuses a charge that only open holds leave uncovered", () => {
    given([granted(50_000), reserved("res_1", 45_000)]).when(charge("req_1", 10_000))
      .thenRejects("insufficient_credits");
  });

  it("refuses a reservation the available balance cannot cover", () => {
    given([granted(50_000), reserved("res_1", 45_000)]).when({
      type: "ReserveCredits",
      accountId: ACCOUNT,
      at: AT,
      reservationId: "res_2",
      amountMicros: 10_000,
      reference: "job_2",
      expiresAt: AT,
    }).thenRejects("insufficient_credits");
  });

  it("settles a hold into one charge of the actual cost and frees the rest", () => {
    const history = [granted(50_000), reserved("res_1", 30_000)];
    const events = given(history).when({
      type: "SettleReservation",
      accountId: ACCOUNT,
      at: AT,
      reservationId: "res_1",
      amountMicros: 20_000,
      reference: "job_1",
    }).then(matching([{
      type: "CreditsCharged",
      data: { chargeId: "res_1", reservationId: "res_1", amountMicros: 20_000 },
    }]));
    const state = replayLedger([...history, ...events]);
    expect(state.balanceMicros).toBe(30_000);
    expect(state.heldMicros).toBe(0);
    given([...history, ...events]).when({
      type: "SettleReservation",
      accountId: ACCOUNT,
      at: AT,
      reservationId: "res_1",
      amountMicros: 20_000,
      reference: "job_1",
    }).then([]);
  });

  it("refuses to settle more than the hold", () => {
    given([granted(50_000), reserved("res_1", 30_000)]).when({
      type: "SettleReservation",
      accountId: ACCOUNT,
      at: AT,
      reservationId: "res_1",
      amountMicros: 30_001,
      reference: "job_1",
    }).thenRejects("settle_exceeds_hold");
  });

  it("releases an open hold once and never a settled one", () => {
    const release: LedgerCommand = {
      type: "ReleaseReservation",
      accountId: ACCOUNT,
      at: AT,
      reservationId: "res_1",
      reason: "expired",
    };
    const events = given([granted(50_000), reserved("res_1", 30_000)]).when(release).then(matching([
      { type: "ReservationReleased", data: { reservationId: "res_1", amountMicros: 30_000 } },
    ]));
    given([granted(50_000), reserved("res_1", 30_000), ...events]).when(release).then([]);
    given([granted(50_000), reserved("res_1", 30_000), charged("res_1", 1, "res_1")]).when(release)
      .then([]);
  });

  it("refunds a charge once", () => {
    const refund: LedgerCommand = {
      type: "RefundCharge",
      accountId: ACCOUNT,
      at: AT,
      chargeId: "req_1",
      reason: "failed",
    };
    const events = given([granted(50_000), charged("req_1", 10_000)]).when(refund).then(matching([
      { type: "CreditsRefunded", data: { chargeId: "req_1", amountMicros: 10_000 } },
    ]));
    given([granted(50_000), charged("req_1", 10_000), ...events]).when(refund).then([]);
    given([]).when(refund).thenRejects("unknown_charge");
  });

  it("refuses a negative grant that would overdraw", () => {
    const correction = (amountMicros: number): LedgerCommand => ({
      type: "GrantCredits",
      accountId: ACCOUNT,
      at: AT,
      grantId: "g2",
      amountMicros,
      reason: "correction",
      actor: "admin",
    });
    given([granted(50_000)]).when(correction(-50_000)).then(matching([
      { type: "CreditsGranted", data: { amountMicros: -50_000 } },
    ]));
    given([granted(50_000)]).when(correction(-50_001)).thenRejects("insufficient_credits");
  });

  it("derives event ids from the idempotency key", () => {
    const [first] = decide(charge("req_9", 1), replayLedger([granted(10)]));
    const [second] = decide(charge("req_9", 1), replayLedger([granted(10)]));
    expect(first.id).toBe(second.id);
    expect(first.id).toBe(ledgerEventId(ACCOUNT, "charge:req_9"));
  });

  describe("reconciling a completed request's missing charge", () => {
    const reconcile = (chargeId: string, amountMicros: number): LedgerCommand => ({
      type: "ReconcileCharge",
      accountId: ACCOUNT,
      at: AT,
      chargeId,
      amountMicros,
      reference: `inference:${chargeId}`,
      kind: "inference",
    });
    const released = (reservationId: string, amountMicros: number): LedgerEvent => ({
      id: ledgerEventId(ACCOUNT, `release:${reservationId}`),
      type: "ReservationReleased",
      data: { accountId: ACCOUNT, reservationId, amountMicros, reason: "expired", at: AT },
    });

    it("settles a hold that is still open, with the normal settle's event id", () => {
      const [event] = given([granted(10_000), reserved("inf_1", 10_000)])
        .when(reconcile("inf_1", 10_000))
        .then(
          matching([{
            type: "CreditsCharged",
            data: { amountMicros: 10_000, reservationId: "inf_1" },
          }]),
        );
      expect(event.id).toBe(ledgerEventId(ACCOUNT, "charge:inf_1"));
      const state = replayLedger([granted(10_000), reserved("inf_1", 10_000), event]);
      expect([state.balanceMicros, state.heldMicros]).toEqual([0, 0]);
    });

    it("charges after the hold expired when the available balance still covers it", () => {
      given([granted(10_000), reserved("inf_1", 10_000), released("inf_1", 10_000)])
        .when(reconcile("inf_1", 10_000))
        .then(matching([{ type: "CreditsCharged", data: { amountMicros: 10_000 } }]));
    });

    it("writes the charge off, with its reason, when the balance was spent after the hold expired", () => {
      const history = [
        granted(10_000),
        reserved("inf_1", 10_000),
        released("inf_1", 10_000),
        charged("other", 5_000),
      ];
      const [event] = given(history).when(reconcile("inf_1", 10_000)).then(matching([
        {
          type: "ChargeWrittenOff",
          data: { chargeId: "inf_1", amountMicros: 10_000, reason: "insufficient_credits" },
        },
      ]));
      const state = replayLedger([...history, event]);
      // Nothing moved, nothing went below zero, and the key is closed for good.
      expect(state.balanceMicros).toBe(5_000);
      expect(availableMicros(state)).toBe(5_000);
      given([...history, event]).when(reconcile("inf_1", 10_000)).then([]);
      given([...history, event]).when({
        type: "SettleReservation",
        accountId: ACCOUNT,
        at: AT,
        reservationId: "inf_1",
        amountMicros: 10_000,
        reference: "inference:inf_1",
      }).then([]);
      given([...history, event])
        .when({ type: "RefundCharge", accountId: ACCOUNT, at: AT, chargeId: "inf_1", reason: "x" })
        .thenRejects("unknown_charge");
    });

    it("decides nothing when the normal settle already charged the key", () => {
      given([granted(10_000), reserved("inf_1", 10_000), charged("inf_1", 10_000, "inf_1")])
        .when(reconcile("inf_1", 10_000)).then([]);
    });
  });

  describe("bounded memory", () => {
    it("keeps every open hold and only the most recent closed holds and charges", () => {
      let state = initialLedgerState(3);
      state = evolve(state, granted(1_000_000));
      state = evolve(state, reserved("long", 1));
      for (let index = 0; index < 10; index++) {
        state = evolve(state, reserved(`r${index}`, 10));
        state = evolve(state, charged(`r${index}`, 10, `r${index}`));
      }
      expect(state.holds.size).toBe(4);
      expect(state.holds.get("long")?.status).toBe("open");
      expect([...state.charges.keys()]).toEqual(["r7", "r8", "r9"]);
      expect(state.forgottenKeys).toBe(14);
      expect(state.balanceMicros).toBe(1_000_000 - 100);
      expect(state.heldMicros).toBe(1);
    });

    it("asks to recall a forgotten key and decides from what is recalled", () => {
      let state = initialLedgerState(1);
      for (const event of [granted(100), charged("c1", 10), charged("c2", 10)]) {
        state = evolve(state, event);
      }
      const again = charge("c1", 10);
      expect(keyToRecall(again, state)).toBe("c1");
      expect(keyToRecall(charge("c2", 10), state)).toBeUndefined();
      const recalled = {
        charge: { transactionId: "t", amountMicros: 10, refunded: false },
      };
      expect(decide({ ...again, recalled } as LedgerCommand, state)).toEqual([]);
      expect(decide({ ...again, recalled: {} } as LedgerCommand, state)).toHaveLength(1);
      const [refund] = decide({
        type: "RefundCharge",
        accountId: ACCOUNT,
        at: AT,
        chargeId: "c1",
        reason: "x",
        recalled,
      }, state);
      expect(refund.data).toEqual(expect.objectContaining({ amountMicros: 10 }));
      // The refund brings the key back into memory: a second refund is refused without a recall.
      state = evolve(state, refund);
      expect(state.charges.get("c1")?.refunded).toBe(true);
      expect(
        keyToRecall({
          type: "RefundCharge",
          accountId: ACCOUNT,
          at: AT,
          chargeId: "c1",
          reason: "x",
        }, state),
      )
        .toBeUndefined();
    });

    it("never asks to recall while nothing was forgotten", () => {
      expect(keyToRecall(charge("new", 1), replayLedger([granted(10)]))).toBeUndefined();
    });
  });
});
