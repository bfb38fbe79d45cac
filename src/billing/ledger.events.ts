import type { Micros } from "../common/money.ts";

/**
 * The events of an account's ledger stream `ledger-<accountId>`. Every credit movement is one
 * of these; amounts are integer micro-dollars; `at` is the business time the command was
 * decided at (the injected clock), which transactions, usage and point-in-time queries use.
 */
export const LEDGER_CATEGORY = "ledger";

export function ledgerStream(accountId: string): string {
  return `${LEDGER_CATEGORY}-${accountId}`;
}

export function accountIdOfLedgerStream(stream: string): string {
  return stream.slice(LEDGER_CATEGORY.length + 1);
}

/**
 * A paid purchase. `amountMicros` is what was paid; `bonusMicros` only records the first-purchase
 * bonus that the CreditsGranted right after it (reason `first_purchase_bonus`) adds.
 */
export interface CreditsPurchased {
  type: "CreditsPurchased";
  data: {
    accountId: string;
    paymentReference: string;
    provider: string;
    amountMicros: Micros;
    bonusMicros: Micros;
    at: string;
  };
}

/** Credits given by an operator (or a bonus). Negative amounts are corrections. */
export interface CreditsGranted {
  type: "CreditsGranted";
  data: {
    accountId: string;
    grantId: string;
    amountMicros: Micros;
    reason: string;
    actor: string;
    /** The purchase a bonus belongs to. */
    paymentReference?: string;
    at: string;
  };
}

/** A hold on credits for work whose cost is known later. */
export interface CreditsReserved {
  type: "CreditsReserved";
  data: {
    accountId: string;
    reservationId: string;
    amountMicros: Micros;
    reference: string;
    model?: string;
    expiresAt: string;
    at: string;
  };
}

export interface ReservationReleased {
  type: "ReservationReleased";
  data: {
    accountId: string;
    reservationId: string;
    amountMicros: Micros;
    reason: string;
    at: string;
  };
}

/**
 * Credits spent. `chargeId` is the gateway-minted idempotency key (a request or job id); a
 * charge that settles a hold carries the `reservationId` and closes that hold entirely.
 */
export interface CreditsCharged {
  type: "CreditsCharged";
  data: {
    accountId: string;
    chargeId: string;
    amountMicros: Micros;
    reference: string;
    model?: string;
    kind?: string;
    reservationId?: string;
    at: string;
  };
}

export interface CreditsRefunded {
  type: "CreditsRefunded";
  data: {
    accountId: string;
    chargeId: string;
    amountMicros: Micros;
    reason: string;
    model?: string;
    at: string;
  };
}

/**
 * Work that was delivered but could not be charged (the account could no longer cover it once
 * its hold had been released): recorded instead of silently dropping the charge, so the loss is
 * visible and the key is closed. Moves no balance; an open hold of the same key is released.
 */
export interface ChargeWrittenOff {
  type: "ChargeWrittenOff";
  data: {
    accountId: string;
    /** The idempotency key the charge would have used (its CreditsCharged never exists). */
    chargeId: string;
    amountMicros: Micros;
    /** Why it could not be charged, e.g. `insufficient_credits`. */
    reason: string;
    reference: string;
    model?: string;
    kind?: string;
    reservationId?: string;
    at: string;
  };
}

export type LedgerEventBody =
  | CreditsPurchased
  | CreditsGranted
  | CreditsReserved
  | ReservationReleased
  | CreditsCharged
  | CreditsRefunded
  | ChargeWrittenOff;

export type LedgerEventType = LedgerEventBody["type"];

/** A ledger event with its (deterministic) id, as decided and as read back. */
export type LedgerEvent = LedgerEventBody & { id: string };

export const LEDGER_EVENT_TYPES: readonly LedgerEventType[] = [
  "CreditsPurchased",
  "CreditsGranted",
  "CreditsReserved",
  "ReservationReleased",
  "CreditsCharged",
  "CreditsRefunded",
  "ChargeWrittenOff",
];
