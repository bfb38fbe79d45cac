import { DomainError } from "../common/domain-error.ts";
import { logger } from "../common/json-logger.ts";
import {
  CommandHandler,
  type Decision,
  isVersionConflict,
} from "../event-store/command-handler.ts";
import type { EventMetadata, EventStore, RecordedEvent } from "../event-store/event-store.port.ts";
import {
  evolve,
  initialLedgerState,
  type LedgerCommand,
  ledgerDecider,
  type LedgerState,
} from "./ledger.decider.ts";
import { type LedgerEvent, ledgerStream } from "./ledger.events.ts";
import {
  forgotInBatch,
  keyOfEvent,
  type LedgerKeyRecall,
  positionRecords,
  recallForgottenKeys,
} from "./ledger-key-recall.ts";

const MAX_CACHED_ACCOUNTS = 20_000;

/** A batch still met another instance's appends after every attempt the conflict policy allows. */
export class LedgerBusy extends DomainError<"ledger_conflict"> {
  constructor() {
    super("ledger_conflict", "The ledger is busy; retry the request.", undefined, 1);
  }
}

/** One command (or a read) waiting in its account's queue, and how to answer its caller. */
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
  /** Last revision folded into `state`; -1n: empty stream; undefined: to be rebuilt. */
  revision?: bigint;
  queue: QueuedWork[];
  running: boolean;
  /** Set when a recall failed: this account keeps every key until it leaves the cache. */
  unbounded?: boolean;
}

/** What deciding one batch against the cached state produced. */
interface BatchDecision {
  events: LedgerEvent[];
  state: LedgerState;
  /** The metadata of each event: that of the work it was decided for. */
  metadata: EventMetadata[];
  outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>;
  /** Keys whose records learn the batch's position once it is appended. */
  touched: Set<string>;
  /** Works decided; those after them wait for the next batch. */
  decidedCount: number;
}

/**
 * The ledger's write path: one in-process queue per account stream on top of the shared
 * `CommandHandler`. Commands that arrive while a batch is being written wait, then are decided
 * together against the cached state and appended in ONE append with the expected revision, so
 * one busy account costs one group-committed write per batch and never overdraws, while other
 * accounts proceed independently. Another instance appending first is a version conflict: the
 * state is rebuilt from the stream and the whole batch decided again, under the shared policy.
 */
export class LedgerBatches {
  readonly counters = { batches: 0, commands: 0, conflictRetries: 0, recalls: 0 };
  /** Most commands decided and appended together. */
  maxBatch = 1_000;
  private readonly accounts = new Map<string, AccountLedger>();
  private readonly handler: CommandHandler<LedgerCommand, LedgerEvent, LedgerState>;
  private recentKeys: number;

  constructor(
    private readonly store: EventStore,
    private readonly history: LedgerKeyRecall | undefined,
    recentKeys: number,
  ) {
    this.handler = new CommandHandler(store, ledgerDecider);
    this.recentKeys = recentKeys;
  }

  /** The cached state of an account (undefined when it is not cached). */
  cachedState(accountId: string): LedgerState | undefined {
    return this.accounts.get(accountId)?.state;
  }

  /** Closed holds and charges kept per account; cached states reload with the new bound. */
  setRecentKeys(recentKeys: number): void {
    this.recentKeys = recentKeys;
    for (const ledger of this.accounts.values()) ledger.revision = undefined;
  }

  /** Queues a command (undefined: a read) on its account; resolves with `result` of it. */
  submit<T>(
    accountId: string,
    command: LedgerCommand | undefined,
    metadata: EventMetadata,
    result: (state: LedgerState, decidedEvents: boolean) => T,
  ): Promise<T> {
    const ledger = this.cached(accountId);
    return new Promise<T>((resolve, reject) => {
      ledger.queue.push({ command, metadata, result, resolve: resolve as never, reject });
      if (!ledger.running) void this.drain(ledger);
    });
  }

  private cached(accountId: string): AccountLedger {
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
    return ledger;
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
    let attempts = 0;
    let commands: Array<LedgerCommand | undefined> = [];
    let decided: BatchDecision | undefined;
    const decision: Decision<LedgerEvent, LedgerState> = (state) =>
      decided = this.decideBatch(batch, commands, state);
    try {
      const result = await this.handler.handleDecision(ledger.stream, decision, {
        load: async (afterConflict) => {
          attempts++;
          if (afterConflict) {
            this.counters.conflictRetries++;
            // The failed decision evolved the cached state in place: rebuild it from the stream.
            ledger.revision = undefined;
          }
          await this.catchUp(ledger);
          commands = await this.withRecalledKeys(ledger, batch);
          return { state: ledger.state, revision: ledger.revision! };
        },
        eventId: (event) => event.id,
        metadataOf: (_event, index) => decided!.metadata[index],
      });
      ledger.state = result.newState;
      ledger.revision = result.nextExpectedRevision;
      if (decided!.touched.size > 0 && result.position !== undefined) {
        positionRecords(ledger.state, decided!.touched, result.position);
      }
    } catch (error) {
      // The cached state may hold events that were never appended: rebuild it next time.
      ledger.revision = undefined;
      logger.write("error", "ledger batch failed", {
        stream: ledger.stream,
        attempt: attempts - 1,
        error: (error as Error).message,
      });
      const failure = isVersionConflict(error) ? new LedgerBusy() : error;
      this.deferUndecided(ledger, batch, decided);
      for (const work of batch) work.reject(failure);
      return;
    }
    this.deferUndecided(ledger, batch, decided);
    this.counters.batches++;
    this.counters.commands += batch.length;
    batch.forEach((work, index) => {
      const outcome = decided!.outcomes[index];
      if (outcome.ok) work.resolve(outcome.value);
      else work.reject(outcome.error);
    });
  }

  /** Puts the works the last decision left for later back at the head of the queue. */
  private deferUndecided(
    ledger: AccountLedger,
    batch: QueuedWork[],
    decided: BatchDecision | undefined,
  ): void {
    if (decided && decided.decidedCount < batch.length) {
      ledger.queue.unshift(...batch.splice(decided.decidedCount));
    }
  }

  /**
   * Decides the batch in order against `state`, which evolve updates in place: that is why a
   * failed append resets the cached revision, so the state is rebuilt from the stream.
   */
  private decideBatch(
    batch: QueuedWork[],
    commands: Array<LedgerCommand | undefined>,
    state: LedgerState,
  ): BatchDecision {
    const decision: BatchDecision = {
      events: [],
      state,
      metadata: [],
      outcomes: [],
      touched: new Set(),
      decidedCount: batch.length,
    };
    const forgottenBefore = state.forgottenKeys;
    for (const [index, work] of batch.entries()) {
      const command = commands[index];
      if (!command) {
        decision.outcomes.push({ ok: true, value: work.result(state, false) });
        continue;
      }
      if (
        state.forgottenKeys !== forgottenBefore && forgotInBatch(command, state, decision.touched)
      ) {
        // A key this very batch forgot is not in the store yet: decide the rest next batch.
        decision.decidedCount = index;
        break;
      }
      let events: LedgerEvent[];
      try {
        events = ledgerDecider.decide(command, state);
      } catch (error) {
        decision.outcomes.push({ ok: false, error });
        continue;
      }
      for (const event of events) {
        state = evolve(state, event);
        if (state.recentKeyLimit !== Infinity) decision.touched.add(keyOfEvent(event));
        decision.events.push(event);
        decision.metadata.push(work.metadata);
      }
      decision.outcomes.push({ ok: true, value: work.result(state, events.length > 0) });
    }
    decision.state = state;
    return decision;
  }

  /** The batch's commands, with what the history recalls about keys the state forgot. */
  private async withRecalledKeys(
    ledger: AccountLedger,
    batch: QueuedWork[],
  ): Promise<Array<LedgerCommand | undefined>> {
    const commands = batch.map((work) => work.command);
    if (!this.history || ledger.state.forgottenKeys === 0) return commands;
    const recalled = await recallForgottenKeys(
      this.history,
      ledger.stream,
      ledger.state,
      commands,
      () => this.counters.recalls++,
    );
    if (recalled) return recalled;
    // The history cannot answer: this account keeps every key, reloaded from the stream.
    ledger.unbounded = true;
    ledger.revision = undefined;
    await this.catchUp(ledger);
    return commands;
  }

  /**
   * Loads the stream (first use or after a failed append) or folds in events appended since.
   * Folds with the recorded events themselves: evolve keeps their ids and positions.
   */
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
