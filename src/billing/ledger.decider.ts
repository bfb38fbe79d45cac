import { DomainError } from "../common/domain-error.ts";
import { deterministicEventId } from "../common/ids.ts";
import type { Micros } from "../common/money.ts";
import type { Decider } from "../event-store/command-handler.ts";
import type { LedgerEvent, LedgerEventBody } from "./ledger.events.ts";
import { ledgerStream } from "./ledger.events.ts";

/**
 * The ledger decider: one per account stream. Pure: the clock (`at`), ids and prices arrive in
 * the command; event ids derive from the command's idempotency key, so a retried command
 * yields the same id and the state's seen keys make a duplicate decide to nothing.
 *
 * Longer than most files on purpose: every money rule (purchase, bonus, grant, hold, settle,
 * charge, refund, write-off, bounded key memory) is here and nowhere else, so one file answers
 * "can this credit movement happen".
 */

export const MINIMUM_PURCHASE_MICROS: Micros = 5_000_000;
/** The first purchase of an account earns this share as a separate bonus entry. */
export const FIRST_PURCHASE_BONUS_PERCENT = 50;

interface CommandBase {
  accountId: string;
  /** ISO time of the decision, from the injected clock. */
  at: string;
}

/**
 * What the ledger recorded earlier about a key that the state no longer keeps in memory (it
 * only keeps a bounded window of closed holds and charges). The ledger service looks it up in
 * the billing history read model and passes it in, so decide stays pure; memory wins over it.
 */
export interface RecalledKey {
  hold?: HoldRecord;
  charge?: ChargeRecord;
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
    recalled?: RecalledKey;
  }
  | CommandBase & {
    type: "SettleReservation";
    reservationId: string;
    amountMicros: Micros;
    reference: string;
    model?: string;
    kind?: string;
    recalled?: RecalledKey;
  }
  | CommandBase & {
    /**
     * Charges delivered work whose settlement went missing (the charge reconciler): settles the
     * hold when it is still open, else charges what the available balance covers, and when it
     * cannot, records a write-off instead. Never overdraws; a key already charged or written off
     * decides nothing, so it can race the normal settle safely.
     */
    type: "ReconcileCharge";
    chargeId: string;
    amountMicros: Micros;
    reference: string;
    model?: string;
    kind?: string;
    recalled?: RecalledKey;
  }
  | CommandBase & { type: "ReleaseReservation"; reservationId: string; reason: string }
  | CommandBase & {
    type: "ChargeCredits";
    chargeId: string;
    amountMicros: Micros;
    reference: string;
    model?: string;
    kind?: string;
    recalled?: RecalledKey;
  }
  | CommandBase & {
    type: "RefundCharge";
    chargeId: string;
    reason: string;
    recalled?: RecalledKey;
  };

export interface ChargeRecord {
  transactionId: string;
  amountMicros: Micros;
  model?: string;
  refunded: boolean;
  /** Closed by a ChargeWrittenOff: nothing was charged, and nothing can be any more. */
  writtenOff?: boolean;
  /** Global position of the last event about this key (at or after it), when known. */
  position?: bigint;
}

export interface HoldRecord {
  amountMicros: Micros;
  expiresAt: string;
  status: "open" | "settled" | "released";
  /** Global position of the last event about this key (at or after it), when known. */
  position?: bigint;
}

export interface LedgerState {
  balanceMicros: Micros;
  /** Sum of open holds. */
  heldMicros: Micros;
  purchaseCount: number;
  /**
   * Charges by idempotency key (settled holds are charges keyed by reservation id), oldest
   * first; at most `recentKeyLimit` of them, older ones are forgotten.
   */
  charges: Map<string, ChargeRecord>;
  /** Every open hold, and the most recently closed ones (at most `recentKeyLimit`). */
  holds: Map<string, HoldRecord>;
  /** Closed holds in `holds`. */
  closedHolds: number;
  /** How many closed holds and charges the state keeps (Infinity: all of them). */
  recentKeyLimit: number;
  /** Keys forgotten so far: when non-zero, a key absent from memory may be an old one. */
  forgottenKeys: number;
  /**
   * Every forgotten key's events lie at or before this global position (a history read model
   * that has applied it can recall them), unless `forgottenUnpositioned`: then one forgotten
   * key's last event had no known position yet (it was decided in the batch being written).
   */
  forgottenThrough: bigint;
  forgottenUnpositioned: boolean;
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

/** A command the rules refuse; the exception filter's table says how it reads over HTTP. */
export class LedgerRejected extends DomainError<LedgerRejectionCode> {
  constructor(code: LedgerRejectionCode, message: string) {
    super(code, message);
  }
}

/**
 * `recentKeyLimit` bounds the closed holds and charges kept in memory. Only a caller that can
 * recall forgotten keys (the ledger service, from the history read model) may lower it: the
 * default keeps everything, so a bare replay decides exactly as before.
 */
export function initialLedgerState(recentKeyLimit = Infinity): LedgerState {
  return {
    balanceMicros: 0,
    heldMicros: 0,
    purchaseCount: 0,
    charges: new Map(),
    holds: new Map(),
    closedHolds: 0,
    recentKeyLimit,
    forgottenKeys: 0,
    forgottenThrough: 0n,
    forgottenUnpositioned: false,
    grants: new Map(),
    payments: new Map(),
  };
}

/**
 * The idempotency key a command's decision depends on, when the state may have forgotten it
 * (it was never in memory or aged out): the caller must then recall it before deciding.
 */
export function keyToRecall(command: LedgerCommand, state: LedgerState): string | undefined {
  if (state.forgottenKeys === 0 || "recalled" in command && command.recalled) return undefined;
  switch (command.type) {
    case "ReserveCredits":
      return state.holds.has(command.reservationId) ? undefined : command.reservationId;
    case "SettleReservation":
      return state.charges.has(command.reservationId) ? undefined : command.reservationId;
    case "ReconcileCharge":
    case "ChargeCredits":
    case "RefundCharge":
      return state.charges.has(command.chargeId) ? undefined : command.chargeId;
    default:
      return undefined;
  }
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
      if (state.holds.has(command.reservationId) || command.recalled?.hold) return [];
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
      if (chargeOf(state, command.reservationId, command.recalled)) return [];
      requireNonNegative(command.amountMicros);
      const hold = holdOf(state, command.reservationId, command.recalled);
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
    case "ReconcileCharge": {
      if (chargeOf(state, command.chargeId, command.recalled)) return [];
      requireNonNegative(command.amountMicros);
      const hold = holdOf(state, command.chargeId, command.recalled);
      const open = hold?.status === "open";
      // An open hold covers the charge up to its amount; without one the balance must.
      const covered = availableMicros(state) + (open ? hold.amountMicros : 0) >=
        command.amountMicros;
      const details = {
        ...(command.model !== undefined ? { model: command.model } : {}),
        ...(command.kind !== undefined ? { kind: command.kind } : {}),
        ...(hold ? { reservationId: command.chargeId } : {}),
      };
      if (!covered) {
        return [event(`writeoff:${command.chargeId}`, {
          type: "ChargeWrittenOff",
          data: {
            accountId,
            chargeId: command.chargeId,
            amountMicros: command.amountMicros,
            reason: "insufficient_credits",
            reference: command.reference,
            ...details,
            at,
          },
        })];
      }
      // Same event id as the normal settle or charge: whichever lands first, the other is a no-op.
      return [event(`charge:${command.chargeId}`, {
        type: "CreditsCharged",
        data: {
          accountId,
          chargeId: command.chargeId,
          amountMicros: command.amountMicros,
          reference: command.reference,
          ...details,
          at,
        },
      })];
    }
    case "ChargeCredits": {
      if (chargeOf(state, command.chargeId, command.recalled)) return [];
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
      const charge = chargeOf(state, command.chargeId, command.recalled);
      if (!charge || charge.writtenOff) {
        throw new LedgerRejected("unknown_charge", `No charge '${command.chargeId}'.`);
      }
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
 * using a state it has passed to evolve (ledger-batches.ts rebuilds its copy after a failed
 * append). No validation here: the rules live in decide.
 *
 * Every event about a key leaves that key's full facts in memory (the most recent window), so
 * only keys untouched for a whole window are ever forgotten.
 */
export function evolve(
  state: LedgerState,
  event: LedgerEvent & { position?: bigint },
): LedgerState {
  const position = event.position;
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
        ...(position !== undefined ? { position } : {}),
      });
      break;
    case "ReservationReleased":
      closeHold(state, event.data.reservationId, "released", position);
      break;
    case "CreditsCharged": {
      if (event.data.reservationId !== undefined) {
        closeHold(state, event.data.reservationId, "settled", position);
      }
      state.balanceMicros -= event.data.amountMicros;
      rememberCharge(state, event.data.chargeId, {
        transactionId: event.id,
        amountMicros: event.data.amountMicros,
        ...(event.data.model !== undefined ? { model: event.data.model } : {}),
        refunded: false,
        ...(position !== undefined ? { position } : {}),
      });
      break;
    }
    case "CreditsRefunded": {
      state.balanceMicros += event.data.amountMicros;
      const charge = state.charges.get(event.data.chargeId);
      rememberCharge(state, event.data.chargeId, {
        // A forgotten charge comes back as what the refund says about it.
        transactionId: charge?.transactionId ??
          ledgerEventId(event.data.accountId, `charge:${event.data.chargeId}`),
        amountMicros: charge?.amountMicros ?? event.data.amountMicros,
        ...(event.data.model !== undefined ? { model: event.data.model } : {}),
        refunded: true,
        ...(position !== undefined ? { position } : {}),
      });
      break;
    }
    case "ChargeWrittenOff": {
      if (event.data.reservationId !== undefined) {
        closeHold(state, event.data.reservationId, "released", position);
      }
      rememberCharge(state, event.data.chargeId, {
        transactionId: event.id,
        amountMicros: 0,
        ...(event.data.model !== undefined ? { model: event.data.model } : {}),
        refunded: false,
        writtenOff: true,
        ...(position !== undefined ? { position } : {}),
      });
      break;
    }
  }
  return state;
}

function closeHold(
  state: LedgerState,
  reservationId: string,
  status: "settled" | "released",
  position: bigint | undefined,
) {
  const hold = state.holds.get(reservationId);
  if (!hold || hold.status !== "open") return;
  state.heldMicros -= hold.amountMicros;
  hold.status = status;
  hold.position = position;
  // Re-inserted last: closed holds then age out in the order they closed.
  state.holds.delete(reservationId);
  state.holds.set(reservationId, hold);
  state.closedHolds++;
  if (state.closedHolds <= state.recentKeyLimit) return;
  for (const [key, candidate] of state.holds) {
    if (candidate.status === "open") continue;
    state.holds.delete(key);
    state.closedHolds--;
    forget(state, candidate);
    return;
  }
}

function forget(state: LedgerState, record: HoldRecord | ChargeRecord): void {
  state.forgottenKeys++;
  if (record.position === undefined) state.forgottenUnpositioned = true;
  else if (record.position > state.forgottenThrough) state.forgottenThrough = record.position;
}

function rememberCharge(state: LedgerState, chargeId: string, record: ChargeRecord): void {
  state.charges.delete(chargeId);
  state.charges.set(chargeId, record);
  if (state.charges.size <= state.recentKeyLimit) return;
  const [oldest, forgotten] = state.charges.entries().next().value as [string, ChargeRecord];
  state.charges.delete(oldest);
  forget(state, forgotten);
}

function chargeOf(
  state: LedgerState,
  chargeId: string,
  recalled: RecalledKey | undefined,
): ChargeRecord | undefined {
  return state.charges.get(chargeId) ?? recalled?.charge;
}

function holdOf(
  state: LedgerState,
  reservationId: string,
  recalled: RecalledKey | undefined,
): HoldRecord | undefined {
  return state.holds.get(reservationId) ?? recalled?.hold;
}

/** The ledger as a `Decider`, for the shared command handler and decider specs. */
export const ledgerDecider: Decider<LedgerCommand, LedgerEvent, LedgerState> = {
  decide,
  evolve,
  initialState: () => initialLedgerState(),
};

/** Folds events from the initial state (replay). */
export function replayLedger(
  events: Iterable<LedgerEvent>,
  recentKeyLimit = Infinity,
): LedgerState {
  let state = initialLedgerState(recentKeyLimit);
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
