import { realtimeChargeId } from "../../realtime/realtime.events.ts";
import type { RecordedEvent } from "../../event-store/event-store.port.ts";
import { type EventRef, type Findings, refOf } from "./findings.ts";
import type { KeyFacts } from "./ledger-checks.ts";

interface JobFacts {
  ended?: EventRef;
  endedAt?: string;
  endReason?: string;
  completed: boolean;
}

/** A piece of work that was priced, as much of its event as the end-of-history join needs. */
interface ChargedWork {
  event: EventRef;
  /** The ledger key its charge must be under. */
  key: string;
  /** When it ended: work this recent may still be settling. */
  endedAt: string;
  description: string;
}

/**
 * The work that must be paid for exactly once: generation jobs (job-charge), per-request
 * inference charges (inference-charge) and realtime responses (realtime-charge). Each event is
 * remembered by id; the ledger keys are joined once at the end, since a settlement may follow
 * its work by a few events.
 */
export class WorkChecks {
  private readonly jobs = new Map<string, JobFacts>();
  /** Charged work, each with the event that says it was delivered. */
  private readonly inference: ChargedWork[] = [];
  private readonly realtime: ChargedWork[] = [];

  /** `keys`: the ledger checks' facts, as they grow during the pass. */
  constructor(
    private readonly findings: Findings,
    private readonly keys: ReadonlyMap<string, KeyFacts>,
  ) {}

  apply(event: RecordedEvent): void {
    const data = event.data;
    switch (event.type) {
      case "JobSubmitted":
        if (!this.jobs.has(data.jobId)) this.jobs.set(data.jobId, { completed: false });
        break;
      case "JobCompleted":
      case "JobFailed":
      case "JobCancelled": {
        let job = this.jobs.get(data.jobId);
        if (!job) this.jobs.set(data.jobId, job = { completed: false });
        job.ended = refOf(event);
        job.endedAt = data.at;
        job.endReason = data.reason;
        job.completed = event.type === "JobCompleted";
        break;
      }
      case "InferenceCompleted":
        if (data.chargedMicros > 0) {
          const key: string = data.reservationId ?? data.inferenceId;
          // Settled already (the usual order): it stays settled, so there is nothing to remember.
          const facts = this.keys.get(key);
          if (facts?.charge || facts?.writeOff) break;
          this.inference.push({
            event: refOf(event),
            key,
            endedAt: data.finishedAt,
            description:
              `InferenceCompleted ${data.inferenceId} charged ${data.chargedMicros} under ${key}`,
          });
        }
        break;
      case "RealtimeResponseCompleted":
        if (data.chargeMicros > 0) {
          this.realtime.push({
            event: refOf(event),
            key: realtimeChargeId(data.sessionId, data.responseId),
            endedAt: data.completedAt,
            description: `realtime response ${data.responseId} of session ${data.sessionId}`,
          });
        }
        break;
    }
  }

  /**
   * `pendingAfter`: work that ended after this instant may still be settling (the service
   * settles off the response path and reconcilers retry), so a missing charge is not yet a fault.
   */
  finish(pendingAfter: string): void {
    const keys = this.keys;
    if (this.findings.on("job-charge")) this.finishJobs(keys, pendingAfter);
    if (this.findings.on("inference-charge")) {
      for (const work of this.inference) {
        const facts = keys.get(work.key);
        if (facts?.charge || facts?.writeOff || work.endedAt > pendingAfter) continue;
        this.findings.add(
          "inference-charge",
          `${work.description}, which the ledger never charged`,
          work.event,
        );
      }
    }
    if (this.findings.on("realtime-charge")) {
      for (const work of this.realtime) {
        const facts = keys.get(work.key);
        const resolutions = (facts?.charges ?? 0) + (facts?.writeOff ? 1 : 0);
        if (resolutions === 1 || (resolutions === 0 && work.endedAt > pendingAfter)) continue;
        this.findings.add(
          "realtime-charge",
          `${work.description} has ${resolutions} charges under ${work.key}`,
          work.event,
        );
      }
    }
  }

  private finishJobs(keys: ReadonlyMap<string, KeyFacts>, pendingAfter: string): void {
    for (const [jobId, job] of this.jobs) {
      const facts = keys.get(jobId);
      if (!job.ended) {
        // Still running: it may not have been charged yet, but nothing may charge it either.
        if (facts?.charge) {
          this.findings.add("job-charge", `job ${jobId} charged before it ended`, facts.charge);
        }
        continue;
      }
      const charges = facts?.charges ?? 0;
      if (job.completed) {
        const resolved = charges + (facts?.writeOff ? 1 : 0);
        if (resolved === 1) continue;
        if (resolved === 0 && job.endedAt !== undefined && job.endedAt > pendingAfter) continue;
        this.findings.add(
          "job-charge",
          `completed job ${jobId} has ${resolved} charges`,
          resolved > 1 ? facts!.charge! : job.ended,
        );
      } else if (charges > 0) {
        this.findings.add(
          "job-charge",
          `job ${jobId} ended with ${job.ended.type}${
            job.endReason ? ` (${job.endReason})` : ""
          } but was charged (${facts!.charge!.id})`,
          facts!.charge!,
        );
      }
    }
  }
}
