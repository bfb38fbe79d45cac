import type { RecordedEvent } from "../../event-store/event-store.port.ts";
import { type EventRef, type Findings, refOf } from "./findings.ts";

/**
 * Everything the ledgers say about one idempotency key (a request, job, hold or charge id). It
 * keeps references to the events, not the events: a million-event history has hundreds of
 * thousands of keys, and holding their parsed events is what made verify slow.
 */
export interface KeyFacts {
  accountId: string;
  hold?: EventRef;
  holdExpiresAt?: string;
  holdAmount: number;
  release?: EventRef;
  releaseReason?: string;
  charge?: EventRef;
  /** The first charge named a reservation (it settled a hold). */
  chargeSettledHold: boolean;
  chargeAmount: number;
  charges: number;
  writeOff?: EventRef;
  refunded: boolean;
}

/**
 * An account's balance and held amount, folded as the ledger decider's `evolve` folds them
 * (ledger.decider.ts), without the rest of its state.
 */
export interface MoneyFold {
  balanceMicros: number;
  /** Sum of open holds. */
  heldMicros: number;
  /** The open holds (reservation id -> amount): the only holds that move `heldMicros`. */
  openHolds: Map<string, number>;
}

/** An account's money: the decider's fold, and the same money summed independently. */
interface AccountMoney extends MoneyFold {
  /** The account's ledger stream, as first seen: one copy shared by the references into it. */
  stream: string;
  purchases: number;
  bonuses: number;
  grants: number;
  charges: number;
  refunds: number;
  last: RecordedEvent;
  /** Bonus a purchase promised (payment reference -> micros), matched by its grant. */
  promisedBonus: Map<string, { micros: number; event: RecordedEvent }>;
}

/** Releases after which a late settlement is the documented behaviour (hold-expiry.process). */
const LATE_SETTLE_RELEASE_REASONS = new Set(["expired"]);

/**
 * The ledger invariants in one pass: request-charge, hold-resolution, available-non-negative,
 * balance-equation, stripe-purchase. Each ledger event costs a Map lookup or two and the
 * decider's balance arithmetic (so "available" means exactly what the decider enforces; the
 * decider's full `evolve` also keeps charge and hold records, which verify never reads and which
 * cost a third of a million-event pass).
 */
export class LedgerChecks {
  readonly keys = new Map<string, KeyFacts>();
  private readonly accounts = new Map<string, AccountMoney>();
  private readonly stripeEvents = new Map<string, EventRef>();
  private readonly paymentReferences = new Map<string, EventRef>();

  constructor(private readonly findings: Findings) {}

  /**
   * A reference kept per key (hundreds of thousands of them). Its stream is the account's copy
   * and its type the literal of the branch that saw the event: each scanned event brings its own
   * copies of both, which the collector would otherwise keep marking (interning them through a
   * Map instead cost ~4% of a million-event pass in hashing).
   */
  private ref(event: RecordedEvent, type: string, money: AccountMoney): EventRef {
    const stream = event.stream === money.stream ? money.stream : event.stream;
    return { position: event.position, stream, id: event.id, type };
  }

  apply(event: RecordedEvent): void {
    const data = event.data;
    const accountId: string = data.accountId;
    let money = this.accounts.get(accountId);
    if (!money) {
      money = {
        balanceMicros: 0,
        heldMicros: 0,
        openHolds: new Map(),
        stream: event.stream,
        purchases: 0,
        bonuses: 0,
        grants: 0,
        charges: 0,
        refunds: 0,
        last: event,
        promisedBonus: new Map(),
      };
      this.accounts.set(accountId, money);
    }
    money.last = event;
    switch (event.type) {
      case "CreditsPurchased":
        money.purchases += data.amountMicros;
        this.purchase(event, money);
        break;
      case "CreditsGranted":
        if (data.reason === "first_purchase_bonus") {
          money.bonuses += data.amountMicros;
          const promised = data.paymentReference !== undefined
            ? money.promisedBonus.get(data.paymentReference)
            : undefined;
          if (!promised || promised.micros !== data.amountMicros) {
            this.findings.add(
              "balance-equation",
              `bonus ${data.amountMicros} matches no purchase's bonus (${
                promised?.micros ?? "no purchase"
              })`,
              event,
            );
          } else money.promisedBonus.delete(data.paymentReference);
        } else money.grants += data.amountMicros;
        break;
      case "CreditsReserved":
        this.reserve(event, accountId, money);
        break;
      case "ReservationReleased":
        this.release(event, accountId, money);
        break;
      case "CreditsCharged":
        money.charges += data.amountMicros;
        this.charge(event, accountId, money);
        break;
      case "CreditsRefunded":
        money.refunds += data.amountMicros;
        this.refund(event);
        break;
      case "ChargeWrittenOff":
        this.writeOff(event, accountId, money);
        break;
    }
    evolveMoney(money, event.type, data);
    const available = money.balanceMicros - money.heldMicros;
    if (available < 0 && this.findings.on("available-non-negative")) {
      this.findings.add(
        "available-non-negative",
        `available balance ${available} (balance ${money.balanceMicros}, held ${money.heldMicros}) on ${event.stream}`,
        event,
      );
    }
  }

  private facts(key: string, accountId: string): KeyFacts {
    let facts = this.keys.get(key);
    if (!facts) {
      // Every field from the start: facts made with a few and filled in later grow out-of-object
      // property stores one by one, for each of hundreds of thousands of keys.
      facts = {
        accountId,
        hold: undefined,
        holdExpiresAt: undefined,
        holdAmount: 0,
        release: undefined,
        releaseReason: undefined,
        charge: undefined,
        chargeSettledHold: false,
        chargeAmount: 0,
        charges: 0,
        writeOff: undefined,
        refunded: false,
      };
      this.keys.set(key, facts);
    }
    return facts;
  }

  private purchase(event: RecordedEvent, money: AccountMoney): void {
    const data = event.data;
    if (data.bonusMicros > 0) {
      money.promisedBonus.set(data.paymentReference, { micros: data.bonusMicros, event });
    }
    const earlier = this.paymentReferences.get(data.paymentReference);
    if (earlier) {
      this.findings.add(
        "stripe-purchase",
        `payment ${data.paymentReference} purchased twice (first at position ${earlier.position})`,
        event,
      );
    } else this.paymentReferences.set(data.paymentReference, refOf(event));
    const stripeEventId = event.metadata?.causationId;
    if (data.provider !== "stripe" || typeof stripeEventId !== "string") return;
    const first = this.stripeEvents.get(stripeEventId);
    if (first) {
      this.findings.add(
        "stripe-purchase",
        `Stripe event ${stripeEventId} made a second purchase (first at position ${first.position}, ${first.id})`,
        event,
      );
    } else this.stripeEvents.set(stripeEventId, refOf(event));
  }

  private reserve(event: RecordedEvent, accountId: string, money: AccountMoney): void {
    const facts = this.facts(event.data.reservationId, accountId);
    if (facts.hold) {
      this.findings.add(
        "hold-resolution",
        `hold ${event.data.reservationId} placed twice (first at position ${facts.hold.position})`,
        event,
      );
      return;
    }
    facts.hold = this.ref(event, "CreditsReserved", money);
    facts.holdExpiresAt = event.data.expiresAt;
    facts.holdAmount = event.data.amountMicros;
  }

  private release(event: RecordedEvent, accountId: string, money: AccountMoney): void {
    const key: string = event.data.reservationId;
    const facts = this.facts(key, accountId);
    if (!facts.hold) {
      this.findings.add("hold-resolution", `release of hold ${key}, never placed`, event);
    } else if (facts.release || facts.chargeSettledHold || facts.writeOff) {
      const first = facts.release ?? facts.charge ?? facts.writeOff!;
      this.findings.add(
        "hold-resolution",
        `hold ${key} resolved again (first by ${first.type} at position ${first.position})`,
        event,
      );
    }
    if (facts.charge) {
      this.findings.add(
        "request-charge",
        `${key} released after its charge (${facts.charge.id} at position ${facts.charge.position})`,
        event,
      );
    }
    facts.release ??= this.ref(event, "ReservationReleased", money);
    facts.releaseReason ??= event.data.reason;
  }

  private charge(event: RecordedEvent, accountId: string, money: AccountMoney): void {
    const data = event.data;
    const key: string = data.chargeId;
    const facts = this.facts(key, accountId);
    facts.charges++;
    if (facts.charges > 1) {
      this.findings.add(
        "request-charge",
        `${key} charged ${facts.charges} times (first ${facts.charge!.id} at position ${
          facts.charge!.position
        })`,
        event,
      );
    } else if (facts.writeOff) {
      this.findings.add(
        "request-charge",
        `${key} charged after its write-off (${facts.writeOff.id})`,
        event,
      );
    } else if (facts.release && !LATE_SETTLE_RELEASE_REASONS.has(facts.releaseReason!)) {
      this.findings.add(
        "request-charge",
        `${key} charged after its release (${facts.releaseReason}, ${facts.release.id} at position ${facts.release.position})`,
        event,
      );
    }
    if (data.reservationId !== undefined && !facts.hold) {
      this.findings.add(
        "hold-resolution",
        `charge settles hold ${data.reservationId}, never placed`,
        event,
      );
    }
    if (
      data.reservationId !== undefined && facts.hold && !facts.release &&
      data.amountMicros > facts.holdAmount
    ) {
      this.findings.add(
        "balance-equation",
        `settlement ${data.amountMicros} exceeds its hold ${facts.holdAmount}`,
        event,
      );
    }
    if (facts.charges === 1) {
      facts.charge = this.ref(event, "CreditsCharged", money);
      facts.chargeSettledHold = data.reservationId !== undefined;
      facts.chargeAmount = data.amountMicros;
    }
  }

  private refund(event: RecordedEvent): void {
    const data = event.data;
    const facts = this.keys.get(data.chargeId);
    if (!facts?.charge) {
      this.findings.add("balance-equation", `refund of ${data.chargeId}, never charged`, event);
      return;
    }
    if (facts.refunded) {
      this.findings.add("balance-equation", `${data.chargeId} refunded twice`, event);
    } else if (data.amountMicros !== facts.chargeAmount) {
      this.findings.add(
        "balance-equation",
        `refund ${data.amountMicros} of ${data.chargeId} differs from its charge ${facts.chargeAmount}`,
        event,
      );
    }
    facts.refunded = true;
  }

  private writeOff(event: RecordedEvent, accountId: string, money: AccountMoney): void {
    const key: string = event.data.chargeId;
    const facts = this.facts(key, accountId);
    if (facts.charge || facts.writeOff) {
      const first = facts.charge ?? facts.writeOff!;
      this.findings.add(
        "request-charge",
        `${key} written off after ${first.type} ${first.id} at position ${first.position}`,
        event,
      );
    }
    facts.writeOff ??= this.ref(event, "ChargeWrittenOff", money);
  }

  /** End of history: open holds past their expiry, and each account's equation. */
  finish(now: string, sweepMs: number): void {
    const cutoff = Date.parse(now) - sweepMs;
    if (this.findings.on("hold-resolution")) {
      for (const [key, facts] of this.keys) {
        if (!facts.hold || facts.release || facts.charge || facts.writeOff) continue;
        if (Date.parse(facts.holdExpiresAt!) < cutoff) {
          this.findings.add(
            "hold-resolution",
            `hold ${key} still open, expired ${facts.holdExpiresAt} (now ${now}, sweep ${sweepMs} ms)`,
            facts.hold,
          );
        }
      }
    }
    for (const [accountId, money] of this.accounts) {
      const expected = money.purchases + money.bonuses + money.grants - money.charges +
        money.refunds;
      if (expected !== money.balanceMicros) {
        this.findings.add(
          "balance-equation",
          `account ${accountId}: balance ${money.balanceMicros} != purchases ${money.purchases} + bonuses ${money.bonuses} + grants ${money.grants} - charges ${money.charges} + refunds ${money.refunds}`,
          money.last,
        );
      }
      for (const [reference, promised] of money.promisedBonus) {
        this.findings.add(
          "balance-equation",
          `purchase ${reference} promised a bonus of ${promised.micros} never granted`,
          promised.event,
        );
      }
    }
  }

  /** Totals for the report. */
  summary(): { accounts: number; keys: number; totalBalanceMicros: number } {
    let total = 0;
    for (const money of this.accounts.values()) total += money.balanceMicros;
    return { accounts: this.accounts.size, keys: this.keys.size, totalBalanceMicros: total };
  }
}

export type { EventRef };
export { refOf };

/**
 * The ledger decider's `evolve` restricted to balanceMicros and heldMicros, case for case: a hold
 * placed (again) adds its amount and becomes the open hold for its id; a release, a settling
 * charge or a write-off naming an open hold subtracts that hold's amount once; a closed or unknown
 * hold moves nothing. ledger-checks.spec.ts folds random histories both ways and compares.
 */
export function evolveMoney(money: MoneyFold, type: string, data: any): void {
  switch (type) {
    case "CreditsPurchased":
    case "CreditsGranted":
    case "CreditsRefunded":
      money.balanceMicros += data.amountMicros;
      return;
    case "CreditsReserved":
      money.heldMicros += data.amountMicros;
      money.openHolds.set(data.reservationId, data.amountMicros);
      return;
    case "ReservationReleased":
      closeHold(money, data.reservationId);
      return;
    case "CreditsCharged":
      if (data.reservationId !== undefined) closeHold(money, data.reservationId);
      money.balanceMicros -= data.amountMicros;
      return;
    case "ChargeWrittenOff":
      if (data.reservationId !== undefined) closeHold(money, data.reservationId);
      return;
  }
}

function closeHold(money: MoneyFold, reservationId: string): void {
  const amount = money.openHolds.get(reservationId);
  if (amount === undefined && !money.openHolds.has(reservationId)) return;
  money.heldMicros -= amount!;
  money.openHolds.delete(reservationId);
}
