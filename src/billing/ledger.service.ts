import { Inject, Injectable, Optional } from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import type { Micros } from "../common/money.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import {
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
} from "../event-store/event-store.port.ts";
import {
  availableMicros,
  type LedgerCommand,
  ledgerEventId,
  type LedgerState,
} from "./ledger.decider.ts";
import { LedgerBatches } from "./ledger-batches.ts";
import {
  LEDGER_KEY_RECALL,
  type LedgerKeyRecall,
  RECENT_LEDGER_KEYS,
} from "./ledger-key-recall.ts";

/** Optional event metadata a caller passes through (who, and which request caused it). */
export type LedgerMetadata = Pick<
  EventMetadata,
  "actor" | "correlationId" | "causationId" | "requestId"
>;

export interface ReserveInput {
  reservationId: string;
  amountMicros: Micros;
  reference: string;
  model?: string;
  /** Default: now + RESERVATION_TTL_SECONDS. */
  expiresAt?: Date;
}

export interface SettleInput {
  reservationId: string;
  amountMicros: Micros;
  reference: string;
  model?: string;
  kind?: string;
}

export interface ChargeInput {
  chargeId: string;
  amountMicros: Micros;
  reference: string;
  model?: string;
  kind?: string;
}

export interface GrantInput {
  grantId: string;
  amountMicros: Micros;
  reason: string;
  actor: string;
}

export interface PurchaseInput {
  paymentReference: string;
  amountMicros: Micros;
  provider: string;
}

/** What the charge reconciler's command did. */
export interface ReconcileOutcome {
  outcome: "charged" | "written_off" | "already_closed";
  transactionId?: string;
}

export interface LedgerBalance {
  balanceMicros: Micros;
  availableMicros: Micros;
}

export interface LedgerServiceOptions {
  /** Most commands decided and appended together. */
  maxBatch?: number;
  /** Closed holds and charges kept per account (only bounded when keys can be recalled). */
  recentKeys?: number;
}

/**
 * The ledger's façade: the only way to move credits. Each method turns its input into one
 * ledger command (the clock and the hold's expiry are read here, so the decider stays pure)
 * and queues it on the account's batch (ledger-batches.ts), which decides and appends through
 * the shared command handler.
 */
@Injectable()
export class LedgerService {
  private readonly batches: LedgerBatches;
  private readonly reservationTtlMs: number;

  constructor(
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) config: Pick<AppConfig, "reservationTtlSeconds">,
    @Optional() @Inject(LEDGER_KEY_RECALL) private readonly history?: LedgerKeyRecall,
  ) {
    this.reservationTtlMs = config.reservationTtlSeconds * 1000;
    // Without a way to recall forgotten keys, every key stays in memory.
    this.batches = new LedgerBatches(store, history, history ? RECENT_LEDGER_KEYS : Infinity);
  }

  /** Batches appended, commands decided, retries after another instance wrote first, recalls. */
  stats(): { batches: number; commands: number; conflictRetries: number; recalls: number } {
    return { ...this.batches.counters };
  }

  /** What a cached account keeps in memory (undefined when it is not cached). */
  cachedEntries(
    accountId: string,
  ): { charges: number; holds: number; grants: number; payments: number } | undefined {
    const state = this.batches.cachedState(accountId);
    if (!state) return undefined;
    return {
      charges: state.charges.size,
      holds: state.holds.size,
      grants: state.grants.size,
      payments: state.payments.size,
    };
  }

  /** Test and bench hook: tune batching without Nest. */
  configure(options: LedgerServiceOptions): this {
    this.batches.maxBatch = options.maxBatch ?? this.batches.maxBatch;
    if (options.recentKeys !== undefined && this.history) {
      this.batches.setRecentKeys(options.recentKeys);
    }
    return this;
  }

  async reserve(accountId: string, input: ReserveInput, metadata?: LedgerMetadata): Promise<void> {
    const at = this.clock.now();
    const expiresAt = input.expiresAt ?? new Date(at.getTime() + this.reservationTtlMs);
    await this.submit(
      accountId,
      {
        type: "ReserveCredits",
        accountId,
        at: at.toISOString(),
        reservationId: input.reservationId,
        amountMicros: input.amountMicros,
        reference: input.reference,
        ...(input.model !== undefined ? { model: input.model } : {}),
        expiresAt: expiresAt.toISOString(),
      },
      metadata,
      () => undefined,
    );
  }

  settle(
    accountId: string,
    input: SettleInput,
    metadata?: LedgerMetadata,
  ): Promise<{ transactionId: string }> {
    return this.submit(
      accountId,
      {
        type: "SettleReservation",
        accountId,
        at: this.now(),
        reservationId: input.reservationId,
        amountMicros: input.amountMicros,
        reference: input.reference,
        ...(input.model !== undefined ? { model: input.model } : {}),
        ...(input.kind !== undefined ? { kind: input.kind } : {}),
      },
      metadata,
      (state) => ({ transactionId: chargeTransactionId(state, accountId, input.reservationId) }),
    );
  }

  /**
   * Charges delivered work whose settlement went missing (the charge reconciler), with the
   * same key as the normal settle: settles the hold if it is still open, else charges what the
   * available balance covers, else records a ChargeWrittenOff. A key already charged or written
   * off appends nothing.
   */
  reconcileCharge(
    accountId: string,
    input: ChargeInput,
    metadata?: LedgerMetadata,
  ): Promise<ReconcileOutcome> {
    return this.submit(
      accountId,
      {
        type: "ReconcileCharge",
        accountId,
        at: this.now(),
        chargeId: input.chargeId,
        amountMicros: input.amountMicros,
        reference: input.reference,
        ...(input.model !== undefined ? { model: input.model } : {}),
        ...(input.kind !== undefined ? { kind: input.kind } : {}),
      },
      metadata,
      (state, decidedEvents): ReconcileOutcome => {
        if (!decidedEvents) return { outcome: "already_closed" };
        const record = state.charges.get(input.chargeId)!;
        return {
          outcome: record.writtenOff ? "written_off" : "charged",
          transactionId: record.transactionId,
        };
      },
    );
  }

  async release(
    accountId: string,
    input: { reservationId: string; reason: string },
    metadata?: LedgerMetadata,
  ): Promise<void> {
    await this.submit(
      accountId,
      {
        type: "ReleaseReservation",
        accountId,
        at: this.now(),
        reservationId: input.reservationId,
        reason: input.reason,
      },
      metadata,
      () => undefined,
    );
  }

  charge(
    accountId: string,
    input: ChargeInput,
    metadata?: LedgerMetadata,
  ): Promise<{ transactionId: string }> {
    return this.submit(
      accountId,
      {
        type: "ChargeCredits",
        accountId,
        at: this.now(),
        chargeId: input.chargeId,
        amountMicros: input.amountMicros,
        reference: input.reference,
        ...(input.model !== undefined ? { model: input.model } : {}),
        ...(input.kind !== undefined ? { kind: input.kind } : {}),
      },
      metadata,
      (state) => ({ transactionId: chargeTransactionId(state, accountId, input.chargeId) }),
    );
  }

  async refund(
    accountId: string,
    input: { chargeId: string; reason: string },
    metadata?: LedgerMetadata,
  ): Promise<void> {
    await this.submit(
      accountId,
      {
        type: "RefundCharge",
        accountId,
        at: this.now(),
        chargeId: input.chargeId,
        reason: input.reason,
      },
      metadata,
      () => undefined,
    );
  }

  grant(
    accountId: string,
    input: GrantInput,
    metadata?: LedgerMetadata,
  ): Promise<{ transactionId: string; balanceMicros: Micros }> {
    return this.submit(
      accountId,
      {
        type: "GrantCredits",
        accountId,
        at: this.now(),
        grantId: input.grantId,
        amountMicros: input.amountMicros,
        reason: input.reason,
        actor: input.actor,
      },
      { actor: input.actor, ...metadata },
      (state) => ({
        transactionId: state.grants.get(input.grantId)!,
        balanceMicros: state.balanceMicros,
      }),
    );
  }

  /** A paid purchase (Stripe); the first one of an account adds the bonus entry. */
  purchase(
    accountId: string,
    input: PurchaseInput,
    metadata?: LedgerMetadata,
  ): Promise<{ transactionId: string; balanceMicros: Micros; duplicate: boolean }> {
    return this.submit(
      accountId,
      {
        type: "PurchaseCredits",
        accountId,
        at: this.now(),
        paymentReference: input.paymentReference,
        amountMicros: input.amountMicros,
        provider: input.provider,
      },
      metadata,
      (state, decidedEvents) => ({
        transactionId: state.payments.get(input.paymentReference)!,
        balanceMicros: state.balanceMicros,
        duplicate: !decidedEvents,
      }),
    );
  }

  /** The current balance, brought up to date with the stream (other instances' writes too). */
  balance(accountId: string): Promise<LedgerBalance> {
    return this.submit(accountId, undefined, undefined, (state) => ({
      balanceMicros: state.balanceMicros,
      availableMicros: availableMicros(state),
    }));
  }

  /** The balance, and whether the next purchase still earns the first-purchase bonus. */
  summary(accountId: string): Promise<LedgerBalance & { firstPurchaseBonusAvailable: boolean }> {
    return this.submit(accountId, undefined, undefined, (state) => ({
      balanceMicros: state.balanceMicros,
      availableMicros: availableMicros(state),
      firstPurchaseBonusAvailable: state.purchaseCount === 0,
    }));
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  private submit<T>(
    accountId: string,
    command: LedgerCommand | undefined,
    metadata: LedgerMetadata | undefined,
    result: (state: LedgerState, decidedEvents: boolean) => T,
  ): Promise<T> {
    return this.batches.submit(accountId, command, {
      accountId,
      actor: "system:billing",
      ...withoutUndefined(metadata),
    }, result);
  }
}

/** A charge's transaction id; a forgotten one's follows from its key (event ids are derived). */
function chargeTransactionId(state: LedgerState, accountId: string, chargeId: string): string {
  return state.charges.get(chargeId)?.transactionId ??
    ledgerEventId(accountId, `charge:${chargeId}`);
}

function withoutUndefined(metadata: LedgerMetadata | undefined): LedgerMetadata {
  if (!metadata) return {};
  return Object.fromEntries(Object.entries(metadata).filter(([, value]) => value !== undefined));
}
