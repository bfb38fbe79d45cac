import {
  decide,
  evolve,
  initialLedgerState,
  type LedgerCommand,
  ledgerEventId,
  LedgerRejected,
  type LedgerState,
  replayLedger,
} from "./ledger.decider.ts";
import type { LedgerEvent } from "./ledger.events.ts";

const ACCOUNT = "acct_1";
const AT = "2026-01-01T00:00:00.000Z";

/** given(events).when(command).then(events) / .thenRejects(code), in the Emmett style. */
function given(history: LedgerEvent[]) {
  const state = (): LedgerState => history.reduce(evolve, initialLedgerState());
  return {
    when(command: LedgerCommand) {
      return {
        then(expected: Array<Pick<LedgerEvent, "type"> & { data: Record<string, unknown> }>) {
          const events = decide(command, state());
          expect(events.map(({ type, data }) => ({ type, data }))).toEqual(
            expected.map(({ type, data }) => ({ type, data: expect.objectContaining(data) })),
          );
          return events;
        },
        thenRejects(code: string) {
          expect(() => decide(command, state())).toThrow(LedgerRejected);
          try {
            decide(command, state());
          } catch (error) {
            expect((error as LedgerRejected).code).toBe(code);
          }
        },
      };
    },
  };
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
    }).then([
      { type: "CreditsPurchased", data: { amountMicros: 10_000_000, bonusMicros: 5_000_000 } },
      { type: "CreditsGranted", data: { amountMicros: 5_000_000, reason: "first_purchase_bonus" } },
    ]);
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
    given(first).when(purchase("cs_2")).then([
      { type: "CreditsPurchased", data: { amountMicros: 7_000_000, bonusMicros: 0 } },
    ]);
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
    given([granted(10_000)]).when(charge("req_1", 10_000)).then([
      { type: "CreditsCharged", data: { chargeId: "req_1", amountMicros: 10_000 } },
    ]);
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
    }).then([{
      type: "CreditsCharged",
      data: { chargeId: "res_1", reservationId: "res_1", amountMicros: 20_000 },
    }]);
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
    const events = given([granted(50_000), reserved("res_1", 30_000)]).when(release).then([
      { type: "ReservationReleased", data: { reservationId: "res_1", amountMicros: 30_000 } },
    ]);
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
    const events = given([granted(50_000), charged("req_1", 10_000)]).when(refund).then([
      { type: "CreditsRefunded", data: { chargeId: "req_1", amountMicros: 10_000 } },
    ]);
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
    given([granted(50_000)]).when(correction(-50_000)).then([
      { type: "CreditsGranted", data: { amountMicros: -50_000 } },
    ]);
    given([granted(50_000)]).when(correction(-50_001)).thenRejects("insufficient_credits");
  });

  it("derives event ids from the idempotency key", () => {
    const [first] = decide(charge("req_9", 1), replayLedger([granted(10)]));
    const [second] = decide(charge("req_9", 1), replayLedger([granted(10)]));
    expect(first.id).toBe(second.id);
    expect(first.id).toBe(ledgerEventId(ACCOUNT, "charge:req_9"));
  });
});
