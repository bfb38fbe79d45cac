import { deterministicEventId } from "../common/ids.ts";
import type { Micros } from "../common/money.ts";
import type { LedgerEvent, LedgerEventBody } from "./ledger.events.ts";
import { ledgerStream } from "./ledger.events.ts";

/**
 * The ledger decider: one per account stream. Pure: the clock (`at`), ids and prices arrive in
 * the command; event ids derive from the command's idempotency key, so a retried command
 * yields the same id and the state's seen keys make a duplicate decide to nothing.
 */

export const MINIMUM_PURCHASE_MICROS: Micros = 5_000_000;
/** The first purchase of an account earns this share as a separate bonus entry. */
export const FIRST_PURCHASE_BONUS_PERCENT = 50;

interface CommandBase {
  accountId: string;
  /** ISO time of the decision, from the injected clock. */
  at: string;
}

export type LedgerCommand =
  | CommandBase & {
    type: "PurchaseCredits";
    paymentReference: string;
    provider: string;
    amountMicros: Micros;
  }
  | CommandBase & {
    type: "GrantCredits";
    grantId: string;
    amountMicros: Micros;
    reason: string;
    actor: string;
  }
  | CommandBase & {
    type: "ReserveCredits";
    reservationId: string;
    amountMicros: Micros;
    reference: string;
    model?: string;
    expiresAt: string;
  }
  | CommandBase & {
    type: "SettleReservation";
    reservationId: string;
    amountMicros: Micros;
    reference: string;
    model?: string;
    kind?: string;
  }
  | CommandBase & { type: "ReleaseReservation"; reservationId: string; reason: string }
  | CommandBase & {
    type: "ChargeCredits";
    chargeId: string;
    amountMicros: Micros;
    reference: string;
    model?: string;
    kind?: string;
  }
  | CommandBase & { type: "RefundCharge"; chargeId: string; reason: string };

export interface ChargeRecord {
  transactionId: string;
  amountMicros: Micros;
  model?: string;
  refunded: boolean;
}

export interface HoldRecord {
  amountMicros: Micros;
  expiresAt: string;
  status: "open" | "settled" | "released";
}

export interface LedgerState {
  balanceMicros: Micros;
  /** Sum of open holds. */
  heldMicros: Micros;
  purchaseCount: number;
  /** Every charge by its idempotency key (settled holds are charges keyed by reservation id). */
  charges: Map<string, ChargeRecord>;
  holds: Map<string, HoldRecord>;
  /** Grant id → transaction id. */
  grants: Map<string, string>;
  /** Payment reference → transaction id. */
  payments: Map<string, string>;
}

export type LedgerRejectionCode =
  | "insufficient_credits"
  | "below_minimum_purchase"
  | "invalid_amount"
  | "unknown_reservation"
  | "settle_exceeds_hold"
  | "unknown_charge";

/** A command the rules refuse. The service maps it to an API error. */
export class LedgerRejected extends Error {
  override readonly name = "LedgerRejected";
  constructor(readonly code: LedgerRejectionCode, message: string) {
    super(message);
  }
}

export function initialLedgerState(): LedgerState {
  return {
    balanceMicros: 0,
    heldMicros: 0,
    purchaseCount: 0,
    charges: new Map(),
    holds: new Map(),
    grants: new Map(),
    payments: new Map(),
  };
}

export function availableMicros(state: LedgerState): Micros {
  return state.balanceMicros - state.heldMicros;
}

/** The event id for an idempotency key on an account's ledger. */
export function ledgerEventId(accountId: string, key: string): string {
  return deterministicEventId(ledgerStream(accountId), key);
}

export function decide(command: LedgerCommand, state: LedgerState): LedgerEvent[] {
  const { accountId, at } = command;
  const event = (key: string, body: LedgerEventBody): LedgerEvent =>
    ({ id: ledgerEventId(accountId, key), ...body }) as LedgerEvent;
  switch (command.type) {
    case "PurchaseCredits": {
      if (state.payments.has(command.paymentReference)) return [];
      requireInteger(command.amountMicros);
      if (command.amountMicros < MINIMUM_PURCHASE_MICROS) {
        throw new LedgerRejected("below_minimum_purchase", "Purchases start at $5.00.");
      }
      const bonusMicros = state.purchaseCount === 0
        ? Math.floor(command.amountMicros * FIRST_PURCHASE_BONUS_PERCENT / 100)
        : 0;
      const events: LedgerEvent[] = [event(`purchase:${command.paymentReference}`, {
        type: "CreditsPurchased",
        data: {
          accountId,
          paymentReference: command.paymentReference,
          provider: command.provider,
          amountMicros: command.amountMicros,
          bonusMicros,
          at,
        },
      })];
      if (bonusMicros > 0) {
        events.push(event(`bonus:${command.paymentReference}`, {
          type: "CreditsGranted",
          data: {
            accountId,
            grantId: `bonus:${command.paymentReference}`,
            amountMicros: bonusMicros,
            reason: "first_purchase_bonus",
            actor: "system:billing",
            paymentReference: command.paymentReference,
            at,
          },
        }));
      }
      return events;
    }
    case "GrantCredits": {
      if (state.grants.has(command.grantId)) return [];
      requireInteger(command.amountMicros);
      if (command.amountMicros === 0) {
        throw new LedgerRejected("invalid_amount", "A grant must not be zero.");
      }
      if (command.amountMicros < 0 && availableMicros(state) + command.amountMicros < 0) {
        throw insufficient("This correction would overdraw the account.");
      }
      return [event(`grant:${command.grantId}`, {
        type: "CreditsGranted",
        data: {
          accountId,
          grantId: command.grantId,
          amountMicros: command.amountMicros,
          reason: command.reason,
          actor: command.actor,
          at,
        },
      })];
    }
    case "ReserveCredits": {
      if (state.holds.has(command.reservationId)) return [];
      requireNonNegative(command.amountMicros);
      if (availableMicros(state) < command.amountMicros) throw insufficient();
      return [event(`reserve:${command.reservationId}`, {
        type: "CreditsReserved",
        data: {
          accountId,
          reservationId: command.reservationId,
          amountMicros: command.amountMicros,
          reference: command.reference,
          ...(command.model !== undefined ? { model: command.model } : {}),
          expiresAt: command.expiresAt,
          at,
        },
      })];
    }
    case "SettleReservation": {
      if (state.charges.has(command.reservationId)) return [];
      requireNonNegative(command.amountMicros);
      const hold = state.holds.get(command.reservationId);
      if (!hold) {
        throw new LedgerRejected(
          "unknown_reservation",
          `No reservation '${command.reservationId}'.`,
        );
      }
      if (hold.status === "open" && command.amountMicros > hold.amountMicros) {
        throw new LedgerRejected(
          "settle_exceeds_hold",
          `The charge exceeds the reservation '${command.reservationId}'.`,
        );
      }
      // A hold released (expired) before the work finished: the work is still billed if covered.
      if (hold.status !== "open" && availableMicros(state) < command.amountMicros) {
        throw insufficient();
      }
      return [event(`charge:${command.reservationId}`, {
        type: "CreditsCharged",
        data: {
          accountId,
          chargeId: command.reservationId,
          amountMicros: command.amountMicros,
          reference: command.reference,
          ...(command.model !== undefined ? { model: command.model } : {}),
          ...(command.kind !== undefined ? { kind: command.kind } : {}),
          reservationId: command.reservationId,
          at,
        },
      })];
    }
    case "ReleaseReservation": {
      const hold = state.holds.get(command.reservationId);
      if (!hold || hold.status !== "open") return [];
      return [event(`release:${command.reservationId}`, {
        type: "ReservationReleased",
        data: {
          accountId,
          reservationId: command.reservationId,
          amountMicros: hold.amountMicros,
          reason: command.reason,
          at,
        },
      })];
    }
    case "ChargeCredits": {
      if (state.charges.has(command.chargeId)) return [];
      requireNonNegative(command.amountMicros);
      if (availableMicros(state) < command.amountMicros) throw insufficient();
      return [event(`charge:${command.chargeId}`, {
        type: "CreditsCharged",
        data: {
          accountId,
          chargeId: command.chargeId,
          amountMicros: command.amountMicros,
          reference: command.reference,
          ...(command.model !== undefined ? { model: command.model } : {}),
          ...(command.kind !== undefined ? { kind: command.kind } : {}),
          at,
        },
      })];
    }
    case "RefundCharge": {
      const charge = state.charges.get(command.chargeId);
      if (!charge) throw new LedgerRejected("unknown_charge", `No charge '${command.chargeId}'.`);
      if (charge.refunded) return [];
      return [event(`refund:${command.chargeId}`, {
        type: "CreditsRefunded",
        data: {
          accountId,
          chargeId: command.chargeId,
          amountMicros: charge.amountMicros,
          reason: command.reason,
          ...(charge.model !== undefined ? { model: charge.model } : {}),
          at,
        },
      })];
    }
  }
}

/**
 * Applies one event. For throughput on long streams the state's maps are updated in place:
 * evolve takes ownership of the state it is given and returns it, so a caller must not keep
 * using a state it has passed to evolve (the ledger service rebuilds its copy after a failed
 * append). No validation here: the rules live in decide.
 */
export function evolve(state: LedgerState, event: LedgerEvent): LedgerState {
  switch (event.type) {
    case "CreditsPurchased":
      state.balanceMicros += event.data.amountMicros;
      state.purchaseCount += 1;
      state.payments.set(event.data.paymentReference, event.id);
      break;
    case "CreditsGranted":
      state.balanceMicros += event.data.amountMicros;
      state.grants.set(event.data.grantId, event.id);
      break;
    case "CreditsReserved":
      state.heldMicros += event.data.amountMicros;
      state.holds.set(event.data.reservationId, {
        amountMicros: event.data.amountMicros,
        expiresAt: event.data.expiresAt,
        status: "open",
      });
      break;
    case "ReservationReleased": {
      const hold = state.holds.get(event.data.reservationId);
      if (hold && hold.status === "open") {
        state.heldMicros -= hold.amountMicros;
        hold.status = "released";
      }
      break;
    }
    case "CreditsCharged": {
      const reservationId = event.data.reservationId;
      if (reservationId !== undefined) {
        const hold = state.holds.get(reservationId);
        if (hold && hold.status === "open") {
          state.heldMicros -= hold.amountMicros;
          hold.status = "settled";
        }
      }
      state.balanceMicros -= event.data.amountMicros;
      state.charges.set(event.data.chargeId, {
        transactionId: event.id,
        amountMicros: event.data.amountMicros,
        ...(event.data.model !== undefined ? { model: event.data.model } : {}),
        refunded: false,
      });
      break;
    }
    case "CreditsRefunded": {
      state.balanceMicros += event.data.amountMicros;
      const charge = state.charges.get(event.data.chargeId);
      if (charge) charge.refunded = true;
      break;
    }
  }
  return state;
}

/** Folds events from the initial state (replay). */
export function replayLedger(events: Iterable<LedgerEvent>): LedgerState {
  let state = initialLedgerState();
  for (const event of events) state = evolve(state, event);
  return state;
}

function insufficient(message = "Insufficient credits for this request."): LedgerRejected {
  return new LedgerRejected("insufficient_credits", message);
}

function requireInteger(amount: number): void {
  if (!Number.isSafeInteger(amount)) {
    throw new LedgerRejected("invalid_amount", "Amounts must be whole micro-dollars.");
  }
}

function requireNonNegative(amount: number): void {
  requireInteger(amount);
  if (amount < 0) throw new LedgerRejected("invalid_amount", "Amounts must not be negative.");
}
