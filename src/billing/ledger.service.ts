import { Inject, Injectable, Optional } from "@nestjs/common";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { logger } from "../common/json-logger.ts";
import type { Micros } from "../common/money.ts";
import { sleep } from "../common/sleep.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import {
  EVENT_STORE,
  EventIdConflict,
  type EventMetadata,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
  WrongExpectedVersion,
} from "../event-store/event-store.port.ts";
import {
  availableMicros,
  decide,
  evolve,
  initialLedgerState,
  keyToRecall,
  type LedgerCommand,
  ledgerEventId,
  LedgerRejected,
  type LedgerState,
  type RecalledKey,
} from "./ledger.decider.ts";
import { accountIdOfLedgerStream, type LedgerEvent, ledgerStream } from "./ledger.events.ts";

const MAX_CACHED_ACCOUNTS = 20_000;
/**
 * Closed holds and charges each cached account keeps in memory for idempotency and refunds
 * (open holds are always kept). Older keys are recalled from the history read model.
 */
export const RECENT_LEDGER_KEYS = 1_000;

/**
 * Looks up what the ledger recorded about a key the cached state has forgotten, once the read
 * model has applied every event up to `throughPosition` (where the forgotten facts lie).
 */
export interface LedgerKeyRecall {
  recall(accountId: string, key: string, throughPosition: bigint): Promise<RecalledKey>;
}

export const LEDGER_KEY_RECALL = Symbol("LEDGER_KEY_RECALL");

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

interface QueuedWork {
  /** Undefined for a read: the batch only brings the state up to date. */
  command?: LedgerCommand;
  metadata: EventMetadata;
  /** Computes the caller's answer from the state right after this command's events. */
  result(state: LedgerState, decidedEvents: boolean): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface AccountLedger {
  readonly stream: string;
  state: LedgerState;
  /** Last revision folded into `state`; -1n: empty stream; undefined: not loaded. */
  revision?: bigint;
  queue: QueuedWork[];
  running: boolean;
  /** Set when a recall failed: this account keeps every key until it leaves the cache. */
  unbounded?: boolean;
}

export interface LedgerServiceOptions {
  /** Most commands decided and appended together. */
  maxBatch?: number;
  /** Attempts per batch when another instance appended first. */
  maxConflictRetries?: number;
  /** Closed holds and charges kept per account (only bounded when keys can be recalled). */
  recentKeys?: number;
}

/**
 * The ledger command handler: the only place that reads, decides and appends ledger events.
 *
 * One in-process queue per account stream. Commands that arrive while a batch is being
 * written wait, then are decided together against the cached state and appended in ONE append
 * with the expected revision, so one busy account costs one group-committed write per batch
 * and never overdraws, while other accounts proceed independently. Another instance appending
 * first makes the append fail with WrongExpectedVersion: the state is rebuilt from the stream
 * and the whole batch decided again (bounded retries).
 */
@Injectable()
export class LedgerService {
  private readonly accounts = new Map<string, AccountLedger>();
  private maxBatch: number;
  private maxConflictRetries: number;
  private readonly reservationTtlMs: number;
  private recentKeys: number;
  private readonly counters = { batches: 0, commands: 0, conflictRetries: 0, recalls: 0 };

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) config: Pick<AppConfig, "reservationTtlSeconds">,
    @Optional() @Inject(LEDGER_KEY_RECALL) private readonly history?: LedgerKeyRecall,
  ) {
    this.maxBatch = 1_000;
    this.maxConflictRetries = 50;
    this.reservationTtlMs = config.reservationTtlSeconds * 1000;
    // Without a way to recall forgotten keys, every key stays in memory as before.
    this.recentKeys = history ? RECENT_LEDGER_KEYS : Infinity;
  }

  /** Batches appended, commands decided, retries after another instance wrote first, recalls. */
  stats(): { batches: number; commands: number; conflictRetries: number; recalls: number } {
    return { ...this.counters };
  }

  /** What a cached account keeps in memory (undefined when it is not cached). */
  cachedEntries(
    accountId: string,
  ): { charges: number; holds: number; grants: number; payments: number } | undefined {
    const state = this.accounts.get(accountId)?.state;
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
    this.maxBatch = options.maxBatch ?? this.maxBatch;
    this.maxConflictRetries = options.maxConflictRetries ?? this.maxConflictRetries;
    if (options.recentKeys !== undefined && this.history) {
      this.recentKeys = options.recentKeys;
      // Cached states were built with the old bound: they reload with the new one.
      for (const ledger of this.accounts.values()) ledger.revision = undefined;
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

  private now(): string {
    return this.clock.now().toISOString();
  }

  private submit<T>(
    accountId: string,
    command: LedgerCommand | undefined,
    metadata: LedgerMetadata | undefined,
    result: (state: LedgerState, decidedEvents: boolean) => T,
  ): Promise<T> {
    let ledger = this.accounts.get(accountId);
    if (ledger) {
      // Re-insert: the map's order is then least recently used first, for eviction.
      this.accounts.delete(accountId);
      this.accounts.set(accountId, ledger);
    } else {
      this.evictIdleAccounts();
      ledger = {
        stream: ledgerStream(accountId),
        state: initialLedgerState(this.recentKeys),
        queue: [],
        running: false,
      };
      this.accounts.set(accountId, ledger);
    }
    const eventMetadata: EventMetadata = {
      accountId,
      actor: "system:billing",
      ...withoutUndefined(metadata),
    };
    return new Promise<T>((resolve, reject) => {
      ledger.queue.push({
        command,
        metadata: eventMetadata,
        result,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (!ledger.running) void this.drain(ledger);
    });
  }

  /** Bounds memory: forgets the least recently used idle accounts (they reload from the stream). */
  private evictIdleAccounts(): void {
    if (this.accounts.size < MAX_CACHED_ACCOUNTS) return;
    for (const [accountId, cached] of this.accounts) {
      if (this.accounts.size < MAX_CACHED_ACCOUNTS * 0.9) return;
      if (!cached.running && cached.queue.length === 0) this.accounts.delete(accountId);
    }
  }

  private async drain(ledger: AccountLedger): Promise<void> {
    ledger.running = true;
    try {
      while (ledger.queue.length > 0) {
        const batch = ledger.queue.splice(0, this.maxBatch);
        await this.runBatch(ledger, batch);
      }
    } finally {
      ledger.running = false;
    }
  }

  private async runBatch(ledger: AccountLedger, batch: QueuedWork[]): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.catchUp(ledger);
        const commands = await this.withRecalledKeys(ledger, batch);
        // Decide against a state that becomes the cache only if the append succeeds.
        const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
        const events: NewEvent[] = [];
        let state = ledger.state;
        const forgottenBefore = state.forgottenKeys;
        const touched = new Set<string>();
        for (const [index, work] of batch.entries()) {
          const command = commands[index];
          if (!command) {
            outcomes.push({ ok: true, value: work.result(state, false) });
            continue;
          }
          if (state.forgottenKeys !== forgottenBefore && forgotInBatch(command, state, touched)) {
            // A key this very batch forgot is not in the store yet: decide the rest next batch.
            ledger.queue.unshift(...batch.splice(index));
            break;
          }
          let decided: LedgerEvent[];
          try {
            decided = decide(command, state);
          } catch (error) {
            outcomes.push({ ok: false, error: toApiError(error) });
            continue;
          }
          for (const event of decided) {
            state = evolve(state, event);
            if (state.recentKeyLimit !== Infinity) touched.add(keyOfEvent(event));
            events.push({
              id: event.id,
              type: event.type,
              data: event.data,
              metadata: work.metadata,
            });
          }
          outcomes.push({ ok: true, value: work.result(state, decided.length > 0) });
        }
        if (events.length > 0) {
          try {
            const appended = await this.store.append(ledger.stream, events, {
              expectedRevision: ledger.revision === -1n ? "no_stream" : ledger.revision!,
            });
            ledger.revision = appended.nextExpectedRevision;
            if (touched.size > 0) positionRecords(state, touched, appended.position);
          } catch (error) {
            // The cached state was evolved in place: rebuild it from the stream.
            ledger.revision = undefined;
            throw error;
          }
        }
        this.counters.batches++;
        this.counters.commands += batch.length;
        batch.forEach((work, index) => {
          const outcome = outcomes[index];
          if (outcome.ok) work.resolve(outcome.value);
          else work.reject(outcome.error);
        });
        return;
      } catch (error) {
        const conflict = error instanceof WrongExpectedVersion || error instanceof EventIdConflict;
        if (conflict && attempt < this.maxConflictRetries) {
          this.counters.conflictRetries++;
          // Another instance wrote first; back off a little so instances don't collide in step.
          await sleep(Math.random() * Math.min(50, 2 + attempt * 3));
          continue;
        }
        logger.write("error", "ledger batch failed", {
          stream: ledger.stream,
          attempt,
          error: (error as Error).message,
        });
        const failure = conflict
          ? new ApiError(503, "The ledger is busy; retry the request.", {
            code: "ledger_conflict",
            headers: { "retry-after": "1" },
          })
          : error;
        for (const work of batch) work.reject(failure);
        return;
      }
    }
  }

  /**
   * The batch's commands, each with what the ledger recorded about its key when the cached
   * state has forgotten it (looked up once the history read model holds the forgotten facts).
   */
  private async withRecalledKeys(
    ledger: AccountLedger,
    batch: QueuedWork[],
  ): Promise<Array<LedgerCommand | undefined>> {
    const commands = batch.map((work) => work.command);
    if (!this.history || ledger.state.forgottenKeys === 0) return commands;
    const accountId = accountIdOfLedgerStream(ledger.stream);
    for (const [index, command] of commands.entries()) {
      if (!command) continue;
      const key = keyToRecall(command, ledger.state);
      if (key === undefined) continue;
      this.counters.recalls++;
      try {
        const recalled = await this.history.recall(accountId, key, ledger.state.forgottenThrough);
        commands[index] = { ...command, recalled } as LedgerCommand;
      } catch (error) {
        // The history read model is behind or failed: fall back to keeping every key of this
        // account (a full reload from the stream), rather than refusing its commands.
        logger.write("warn", "ledger key recall failed; reloading the account unbounded", {
          stream: ledger.stream,
          error: (error as Error).message,
        });
        ledger.unbounded = true;
        ledger.revision = undefined;
        await this.catchUp(ledger);
        return batch.map((work) => work.command);
      }
    }
    return commands;
  }

  /** Loads the stream (first use or after a failed append) or folds in events appended since. */
  private async catchUp(ledger: AccountLedger): Promise<void> {
    if (ledger.revision === undefined) {
      ledger.state = initialLedgerState(ledger.unbounded ? Infinity : this.recentKeys);
      ledger.revision = -1n;
    }
    for (;;) {
      const events = await this.store.readStream(ledger.stream, {
        from: ledger.revision + 1n,
        maxCount: 10_000,
      });
      for (const event of events) {
        ledger.state = evolve(ledger.state, event as RecordedEvent & LedgerEvent);
        ledger.revision = event.revision;
      }
      if (events.length < 10_000) return;
    }
  }
}

/**
 * Whether deciding `command` now could miss facts this batch itself forgot (they reach the store
 * and the history read model only with the batch's append): a command recalled before the
 * batch whose key the batch touched and then forgot, or one that needs a recall only now.
 */
function forgotInBatch(command: LedgerCommand, state: LedgerState, touched: Set<string>): boolean {
  if (!("recalled" in command) || !command.recalled) {
    return keyToRecall(command, state) !== undefined;
  }
  const key = keyToRecall({ ...command, recalled: undefined } as LedgerCommand, state);
  return key !== undefined && touched.has(key);
}

/**
 * Gives the records a batch wrote the batch's last position (at or after each of its events),
 * so when they are forgotten later the recall knows how far the history must have come.
 */
function positionRecords(state: LedgerState, keys: Set<string>, position: bigint): void {
  for (const key of keys) {
    const charge = state.charges.get(key);
    if (charge && charge.position === undefined) charge.position = position;
    const hold = state.holds.get(key);
    if (hold && hold.position === undefined) hold.position = position;
  }
  if (state.forgottenUnpositioned) {
    state.forgottenUnpositioned = false;
    if (position > state.forgottenThrough) state.forgottenThrough = position;
  }
}

function keyOfEvent(event: LedgerEvent): string {
  switch (event.type) {
    case "CreditsPurchased":
      return event.data.paymentReference;
    case "CreditsGranted":
      return event.data.grantId;
    case "CreditsReserved":
    case "ReservationReleased":
      return event.data.reservationId;
    default:
      return event.data.chargeId;
  }
}

/** A charge's transaction id; a forgotten one's follows from its key (event ids are derived). */
function chargeTransactionId(state: LedgerState, accountId: string, chargeId: string): string {
  return state.charges.get(chargeId)?.transactionId ??
    ledgerEventId(accountId, `charge:${chargeId}`);
}

function toApiError(error: unknown): unknown {
  if (!(error instanceof LedgerRejected)) return error;
  switch (error.code) {
    case "insufficient_credits":
      return ApiError.insufficientCredits(error.message);
    case "unknown_reservation":
    case "unknown_charge":
      return ApiError.notFound(error.message, error.code);
    default:
      return ApiError.badRequest(error.message, null, error.code);
  }
}

function withoutUndefined(metadata: LedgerMetadata | undefined): LedgerMetadata {
  if (!metadata) return {};
  return Object.fromEntries(Object.entries(metadata).filter(([, value]) => value !== undefined));
}
