import { logger } from "../common/json-logger.ts";
import {
  keyToRecall,
  type LedgerCommand,
  type LedgerState,
  type RecalledKey,
} from "./ledger.decider.ts";
import { accountIdOfLedgerStream, type LedgerEvent } from "./ledger.events.ts";

/*
 * The ledger's bounded memory: a cached account keeps only its most recent closed holds and
 * charges, and what it forgot is recalled from the history read model before a command needs it.
 */

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

/**
 * The commands, each with what the ledger recorded about its key when `state` has forgotten it
 * (looked up once the history read model holds the forgotten facts); undefined when the history
 * cannot answer (it is behind or failed), so the caller falls back to keeping every key.
 */
export async function recallForgottenKeys(
  history: LedgerKeyRecall,
  stream: string,
  state: LedgerState,
  commands: ReadonlyArray<LedgerCommand | undefined>,
  onRecall: () => void,
): Promise<Array<LedgerCommand | undefined> | undefined> {
  const accountId = accountIdOfLedgerStream(stream);
  const withRecalled = [...commands];
  for (const [index, command] of commands.entries()) {
    if (!command) continue;
    const key = keyToRecall(command, state);
    if (key === undefined) continue;
    onRecall();
    try {
      const recalled = await history.recall(accountId, key, state.forgottenThrough);
      withRecalled[index] = { ...command, recalled } as LedgerCommand;
    } catch (error) {
      logger.write("warn", "ledger key recall failed; reloading the account unbounded", {
        stream,
        error: (error as Error).message,
      });
      return undefined;
    }
  }
  return withRecalled;
}

/**
 * Whether deciding `command` now could miss facts this batch itself forgot (they reach the store
 * and the history read model only with the batch's append): a command recalled before the
 * batch whose key the batch touched and then forgot, or one that needs a recall only now.
 */
export function forgotInBatch(
  command: LedgerCommand,
  state: LedgerState,
  touched: Set<string>,
): boolean {
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
export function positionRecords(state: LedgerState, keys: Set<string>, position: bigint): void {
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

export function keyOfEvent(event: LedgerEvent): string {
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
