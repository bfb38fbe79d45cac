import { evolve, initialLedgerState } from "../billing/ledger.decider.ts";
import { type LedgerEvent, ledgerStream } from "../billing/ledger.events.ts";
import { toCsv } from "../billing/csv.ts";
import { microsToUsd } from "../common/money.ts";
import type { EventStore, RecordedEvent } from "../event-store/event-store.port.ts";
import { type Cause, causeOfReference, inferenceIdOfReservation } from "./causation.ts";

const PAGE = 5_000;
/** Closed keys the replay keeps in memory: the balance needs none, so keep the fold small. */
const KEY_MEMORY = 1_000;
const MAX_CHARGE_REFERENCES = 200_000;

/** One balance movement of the period, with what caused it. */
export interface StatementMovement {
  position: number;
  at: string;
  type: string;
  amountMicros: number;
  balanceAfterMicros: number;
  cause: Cause;
  /** What the causing stream says: request id, model, tokens, job kind, payment, grant actor… */
  detail: Record<string, string | number | null>;
}

export interface Statement {
  accountId: string;
  from: string;
  to: string;
  openingBalanceMicros: number;
  closingBalanceMicros: number;
  movements: StatementMovement[];
}

const MOVEMENT_TYPES = new Set([
  "CreditsPurchased",
  "CreditsGranted",
  "CreditsCharged",
  "CreditsRefunded",
]);

/**
 * An account statement for business times [from, to), reproduced from events alone: the ledger
 * stream folded with the billing decider's own `evolve` (as `balance --at` does), and each
 * movement's cause read from the stream that caused it (`inference-…`, `job-…`) and from the
 * ledger event's metadata. No read model is consulted. Like `replayLedgerUntil`, the period is
 * cut in stream order: the opening balance is the one before the first event at or after
 * `from`, so opening + movements = closing always holds.
 */
export async function accountStatement(
  store: EventStore,
  accountId: string,
  from: Date,
  to: Date,
): Promise<Statement> {
  const fromText = from.toISOString();
  const toText = to.toISOString();
  const causes = new CauseReader(store);
  let state = initialLedgerState(KEY_MEMORY);
  let opening: number | undefined;
  const movements: StatementMovement[] = [];
  const chargeReferences = new Map<string, string>();
  let revision = 0n;
  scan: for (;;) {
    const page = await store.readStream(ledgerStream(accountId), {
      from: revision,
      maxCount: PAGE,
    });
    for (const event of page) {
      const ledgerEvent = event as unknown as LedgerEvent;
      const at = ledgerEvent.data.at;
      if (at >= toText) break scan;
      if (opening === undefined && at >= fromText) opening = state.balanceMicros;
      const before = state.balanceMicros;
      state = evolve(state, ledgerEvent);
      if (ledgerEvent.type === "CreditsCharged") {
        chargeReferences.set(ledgerEvent.data.chargeId, ledgerEvent.data.reference);
        // Only refunds look charges up; a very long ledger forgets the oldest ones.
        if (chargeReferences.size > MAX_CHARGE_REFERENCES) chargeReferences.clear();
      }
      if (opening === undefined || !MOVEMENT_TYPES.has(event.type)) continue;
      const { cause, detail } = await causes.explain(event, chargeReferences);
      movements.push({
        position: Number(event.position),
        at,
        type: event.type,
        amountMicros: state.balanceMicros - before,
        balanceAfterMicros: state.balanceMicros,
        cause,
        detail,
      });
    }
    if (page.length < PAGE) break;
    revision = page[page.length - 1].revision + 1n;
  }
  return {
    accountId,
    from: fromText,
    to: toText,
    openingBalanceMicros: opening ?? state.balanceMicros,
    closingBalanceMicros: state.balanceMicros,
    movements,
  };
}

/** Reads the causing streams a movement names, once each. */
class CauseReader {
  private readonly streams = new Map<string, RecordedEvent[]>();

  constructor(private readonly store: EventStore) {}

  async explain(
    event: RecordedEvent,
    chargeReferences: Map<string, string>,
  ): Promise<Pick<StatementMovement, "cause" | "detail">> {
    const data = event.data as Record<string, any>;
    const metadata = event.metadata ?? {};
    const requestId = typeof metadata.requestId === "string" ? metadata.requestId : null;
    const actor = typeof metadata.actor === "string" ? metadata.actor : null;
    switch (event.type) {
      case "CreditsPurchased":
        return {
          cause: { kind: "payment", id: data.paymentReference },
          detail: {
            provider: data.provider,
            stripe_event: typeof metadata.causationId === "string" ? metadata.causationId : null,
          },
        };
      case "CreditsGranted":
        return data.paymentReference
          ? {
            cause: { kind: "payment", id: data.paymentReference },
            detail: { reason: data.reason, actor: data.actor },
          }
          : {
            cause: { kind: "grant", id: data.grantId },
            detail: { reason: data.reason, actor: data.actor, requested_by: actor },
          };
    }
    // A refund's cause is its charge's: the request or job the money came back for.
    const reference: string = event.type === "CreditsRefunded"
      ? chargeReferences.get(data.chargeId) ?? `charge:${data.chargeId}`
      : data.reference ?? "";
    const cause = causeOfReference(reference, requestId ?? undefined);
    const detail: StatementMovement["detail"] = {
      charge_id: data.chargeId,
      kind: data.kind ?? null,
      model: data.model ?? null,
      ...(event.type === "CreditsRefunded" ? { reason: data.reason, actor } : {}),
    };
    if (reference.startsWith("inference:")) {
      const inferenceId = inferenceIdOfReservation(reference.slice("inference:".length));
      const [facts] = await this.read(`inference-${inferenceId}`);
      detail.inference_id = inferenceId;
      detail.request_id = facts?.data.requestId ?? requestId;
      if (facts) {
        cause.id = facts.data.requestId;
        detail.endpoint = facts.data.endpoint;
        detail.prompt_tokens = facts.data.promptTokens;
        detail.completion_tokens = facts.data.completionTokens;
        detail.key_id = facts.data.keyId;
      }
    } else if (cause.kind === "job") {
      const job = await this.read(`job-${cause.id}`);
      const submitted = job.find((recorded) => recorded.type === "JobSubmitted");
      detail.job_kind = submitted?.data.kind ?? null;
      detail.request_id = typeof submitted?.metadata.requestId === "string"
        ? submitted.metadata.requestId
        : requestId;
      detail.job_outcome = job.length > 0 ? job[job.length - 1].type : null;
    } else if (cause.kind === "deployment" && typeof data.chargeId === "string") {
      // `metering:<deploymentId>:<minute>`: the minute is in the key.
      detail.minute = data.chargeId.split(":").slice(2).join(":") || null;
    }
    return { cause, detail };
  }

  private async read(stream: string): Promise<RecordedEvent[]> {
    let events = this.streams.get(stream);
    if (!events) {
      events = await this.store.readStream(stream, { maxCount: 100 });
      // Bounded memory on a long statement: causes are mostly read once.
      if (this.streams.size > 10_000) this.streams.clear();
      this.streams.set(stream, events);
    }
    return events;
  }
}

/** The statement as JSON for `--json`/`--format json`: USD numbers plus exact micro-dollars. */
export function statementJson(statement: Statement) {
  return {
    account_id: statement.accountId,
    from: statement.from,
    to: statement.to,
    opening_balance_usd: microsToUsd(statement.openingBalanceMicros),
    opening_balance_micros: statement.openingBalanceMicros,
    movements: statement.movements.map((movement) => ({
      position: movement.position,
      at: movement.at,
      type: movement.type,
      amount_usd: microsToUsd(movement.amountMicros),
      amount_micros: movement.amountMicros,
      balance_after_usd: microsToUsd(movement.balanceAfterMicros),
      cause: movement.cause,
      detail: movement.detail,
    })),
    closing_balance_usd: microsToUsd(statement.closingBalanceMicros),
    closing_balance_micros: statement.closingBalanceMicros,
  };
}

/** CSV: an opening row, one row per movement, a closing row (formula-safe cells, csv.ts). */
export function statementCsv(statement: Statement): string {
  const header = [
    "position",
    "at",
    "type",
    "amount_usd",
    "balance_after_usd",
    "cause_kind",
    "cause_id",
    "detail",
  ];
  const rows = [
    [null, statement.from, "opening_balance", null, microsToUsd(statement.openingBalanceMicros)],
    ...statement.movements.map((movement) => [
      movement.position,
      movement.at,
      movement.type,
      microsToUsd(movement.amountMicros),
      microsToUsd(movement.balanceAfterMicros),
      movement.cause.kind,
      movement.cause.id,
      Object.entries(movement.detail)
        .filter(([, value]) => value !== null && value !== undefined)
        .map(([key, value]) => `${key}=${value}`)
        .join(" "),
    ]),
    [null, statement.to, "closing_balance", null, microsToUsd(statement.closingBalanceMicros)],
  ];
  return toCsv(header, rows);
}
