import {
  type DeploymentEvent,
  type DeploymentState,
  evolve,
  initialDeploymentState,
  MINUTE_MS,
} from "../../deployments/deployment.decider.ts";
import { DEPLOYMENT_EVENT_TYPES, deploymentStream } from "../../deployments/deployment.events.ts";
import { meteringChargeId } from "../../deployments/pods/pod-metering.ts";
import type { RecordedEvent } from "../../event-store/event-store.port.ts";
import type { Findings } from "./findings.ts";
import type { KeyFacts } from "./ledger-checks.ts";

interface Interval {
  from: number;
  /** Exclusive end; undefined while the pod is still billed. */
  to?: number;
  /** Why it ended, when a refusal stopped the pod (its last minutes may stay unpaid). */
  refused: boolean;
  closedBy?: RecordedEvent;
}

interface Pod {
  state: DeploymentState;
  intervals: Interval[];
  /** Metered minute (epoch ms) -> the DeploymentUsageMetered event. */
  metered: Map<number, RecordedEvent>;
}

/** Stops whose last billed minutes are knowingly never charged (pod-metering.ts). */
const REFUSAL_REASONS = new Set(["insufficient_credits", "spend_cap"]);
const TYPES = new Set<string>(DEPLOYMENT_EVENT_TYPES);
/** Whether an event belongs to a deployment stream's history (what apply takes). */
export function isDeploymentEvent(type: string): boolean {
  return TYPES.has(type);
}

const DEPLOYMENT_STREAM_PREFIX = deploymentStream("");

/**
 * pod-minutes: folds every deployment stream with the decider's own `evolve` (so the billedFrom
 * rules — PodCreated/PodResumed, PodStarted on old streams, PodReplaced — are the service's),
 * records each billed interval as `runningSince` opens and closes it, and at the end compares
 * the minutes those intervals cover with the DeploymentUsageMetered minutes.
 */
export class MeteringCheck {
  private readonly pods = new Map<string, Pod>();

  constructor(private readonly findings: Findings) {}

  apply(event: RecordedEvent): void {
    // The stream names the deployment on every event type, old ones included.
    const id = event.stream.slice(DEPLOYMENT_STREAM_PREFIX.length);
    let pod = this.pods.get(id);
    if (!pod) {
      pod = { state: initialDeploymentState(), intervals: [], metered: new Map() };
      this.pods.set(id, pod);
    }
    if (event.type === "DeploymentUsageMetered") {
      const minute = Date.parse(event.data.minute);
      const earlier = pod.metered.get(minute);
      if (earlier) {
        this.findings.add(
          "pod-minutes",
          `deployment ${id} minute ${event.data.minute} metered twice (first ${earlier.id} at position ${earlier.position})`,
          event,
        );
      } else pod.metered.set(minute, event);
    }
    const before = pod.state;
    const after = evolve(before, event as unknown as DeploymentEvent);
    pod.state = after;
    if (before.runningSince === after.runningSince) return;
    const open = pod.intervals[pod.intervals.length - 1];
    if (before.runningSince !== null && open && open.to === undefined) {
      const closed = after.closedIntervals[after.closedIntervals.length - 1];
      // Closed by a stop/termination/failure, or replaced by a new pod's interval.
      open.to = after.runningSince === null && closed ? Date.parse(closed.to) : Date.parse(
        after.runningSince ?? event.createdAt.toISOString(),
      );
      open.refused = REFUSAL_REASONS.has(event.data.reason);
      open.closedBy = event;
    }
    if (after.runningSince !== null) {
      pod.intervals.push({ from: Date.parse(after.runningSince), refused: false });
    }
  }

  /**
   * `now`: the end of history; `unmeteredGraceMs`: how far behind an open interval's metering may
   * lag (the metering interval) before an unmetered minute is a fault.
   */
  finish(keys: ReadonlyMap<string, KeyFacts>, now: string, unmeteredGraceMs: number): void {
    const end = Date.parse(now);
    for (const [id, pod] of this.pods) {
      const billed = new Set<number>();
      for (const interval of pod.intervals) {
        const to = interval.to ?? end;
        const first = Math.floor(interval.from / MINUTE_MS) * MINUTE_MS;
        for (let minute = first; interval.to === undefined ? minute <= to : minute < to;) {
          billed.add(minute);
          const unmetered = !pod.metered.has(minute);
          const lagging = interval.to === undefined && minute > end - unmeteredGraceMs;
          // A refusal stops the pod after the minute it could not pay: the tail stays unpaid.
          const unpaidTail = interval.refused && minute >= to - 2 * MINUTE_MS - unmeteredGraceMs;
          if (unmetered && !lagging && !unpaidTail) {
            this.findings.add(
              "pod-minutes",
              `deployment ${id} billed minute ${new Date(minute).toISOString()} was never metered`,
              interval.closedBy,
            );
          }
          minute += MINUTE_MS;
        }
      }
      for (const [minute, event] of pod.metered) {
        if (!billed.has(minute)) {
          this.findings.add(
            "pod-minutes",
            `deployment ${id} metered minute ${event.data.minute} outside every billed interval`,
            event,
          );
        } else if (!event.data.prepaid && event.data.amountMicros > 0) {
          const key = meteringChargeId(id, event.data.minute);
          if (!keys.get(key)?.charge) {
            this.findings.add("pod-minutes", `metered minute has no ledger charge ${key}`, event);
          }
        }
      }
    }
  }
}
