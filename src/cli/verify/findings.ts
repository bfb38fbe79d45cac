import type { RecordedEvent } from "../../event-store/event-store.port.ts";

/** The invariants `verify` checks, by the name `--invariant` takes (issue 16 §2). */
export const INVARIANTS = {
  "request-charge":
    "every gateway request id has exactly one charge or one release, never both, never two",
  "hold-resolution":
    "every hold resolves at most once, and none stays open past its expiry plus the sweep interval",
  "available-non-negative": "the available balance is never negative at any position of any ledger",
  "balance-equation":
    "per account: balance = purchases + bonuses + grants - charges + refunds (refunds match their charge)",
  "stripe-purchase": "every Stripe event id (and payment reference) maps to at most one purchase",
  "job-charge":
    "every completed job has exactly one charge; no failed, cancelled or timed-out job has one",
  "pod-minutes":
    "metered pod minutes equal the billed running intervals, and no minute is billed twice",
  "inference-charge":
    "every InferenceCompleted that names a charge has that charge (or its write-off) in the ledger",
  "realtime-charge": "every charged RealtimeResponseCompleted has exactly one charge",
  "read-models": "read models rebuilt from zero equal the live ones, row for row",
} as const;

export type InvariantName = keyof typeof INVARIANTS;

export const INVARIANT_NAMES = Object.keys(INVARIANTS) as InvariantName[];

/** Where an offending fact sits in the store (the event that shows the violation). */
export interface EventRef {
  position: bigint;
  stream: string;
  id: string;
  type: string;
}

export interface Finding {
  invariant: InvariantName;
  message: string;
  /** The offending event, when the violation is an event (a read-model row is not). */
  event?: EventRef;
}

export function refOf(event: RecordedEvent): EventRef {
  return { position: event.position, stream: event.stream, id: event.id, type: event.type };
}

/** At most this many findings are kept per invariant; the rest are only counted. */
const KEPT_PER_INVARIANT = 50;

export class Findings {
  readonly kept: Finding[] = [];
  readonly counts = new Map<InvariantName, number>();

  constructor(private readonly enabled: ReadonlySet<InvariantName>) {}

  /** Whether this invariant runs: checks skip their work for disabled ones. */
  on(invariant: InvariantName): boolean {
    return this.enabled.has(invariant);
  }

  add(invariant: InvariantName, message: string, event?: EventRef | RecordedEvent): void {
    if (!this.enabled.has(invariant)) return;
    const count = (this.counts.get(invariant) ?? 0) + 1;
    this.counts.set(invariant, count);
    if (count > KEPT_PER_INVARIANT) return;
    const ref = event && "revision" in event ? refOf(event) : event as EventRef | undefined;
    this.kept.push({ invariant, message, ...(ref ? { event: ref } : {}) });
  }

  total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }
}

/** Later of two ISO instants (string order is time order for the same format). */
export function laterIso(a: string, b: string | undefined): string {
  return b !== undefined && b > a ? b : a;
}
