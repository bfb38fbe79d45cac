import { realtimeChargeId } from "../../realtime/realtime.events.ts";
import type { RecordedEvent } from "../../event-store/event-store.port.ts";
import type { Findings } from "./findings.ts";
import type { KeyFacts } from "./ledger-checks.ts";

interface JobFacts {
  ended?: RecordedEvent;
  completed: boolean;
}

/**
 * The work that must be paid for exactly once: generation jobs (job-charge), per-request
 * inference charges (inference-charge) and realtime responses (realtime-charge). Each event is
 * remembered by id; the ledger keys are joined once at the end, since a settlement may follow
 * its work by a few events.
 */
export class WorkChecks {
  private readonly jobs = new Map<string, JobFacts>();
  /** Charged work: ledger key -> the event that says it was delivered. */
  private readonly inference: RecordedEvent[] = [];
  private readonly realtime: RecordedEvent[] = [];

  constructor(private readonly findings: Findings) {}

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
        job.ended = event;
        job.completed = event.type === "JobCompleted";
        break;
      }
      case "InferenceCompleted":
        if (data.chargedMicros > 0) this.inference.push(event);
        break;
      case "RealtimeResponseCompleted":
        if (data.chargeMicros > 0) this.realtime.push(event);
        break;
    }
  }

  /**
   * `pendingAfter`: work that ended after this instant may still be settling (the service
   * settles off the response path and reconcilers retry), so a missing charge is not yet a fault.
   */
  finish(keys: ReadonlyMap<string, KeyFacts>, pendingAfter: string): void {
    if (this.findings.on("job-charge")) this.finishJobs(keys, pendingAfter);
    if (this.findings.on("inference-charge")) {
      for (const event of this.inference) {
        const key: string = event.data.reservationId ?? event.data.inferenceId;
        const facts = keys.get(key);
        if (facts?.charge || facts?.writeOff || event.data.finishedAt > pendingAfter) continue;
        this.findings.add(
          "inference-charge",
          `InferenceCompleted ${event.data.inferenceId} charged ${event.data.chargedMicros} under ${key}, which the ledger never charged`,
          event,
        );
      }
    }
    if (this.findings.on("realtime-charge")) {
      for (const event of this.realtime) {
        const key = realtimeChargeId(event.data.sessionId, event.data.responseId);
        const facts = keys.get(key);
        const resolutions = (facts?.charges ?? 0) + (facts?.writeOff ? 1 : 0);
        if (resolutions === 1 || (resolutions === 0 && event.data.completedAt > pendingAfter)) {
          continue;
        }
        this.findings.add(
          "realtime-charge",
          `realtime response ${event.data.responseId} of session ${event.data.sessionId} has ${resolutions} charges under ${key}`,
          event,
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
        if (resolved === 0 && job.ended.data.at > pendingAfter) continue;
        this.findings.add(
          "job-charge",
          `completed job ${jobId} has ${resolved} charges`,
          resolved > 1 ? facts!.charge! : job.ended,
        );
      } else if (charges > 0) {
        this.findings.add(
          "job-charge",
          `job ${jobId} ended with ${job.ended.type}${
            job.ended.data.reason ? ` (${job.ended.data.reason})` : ""
          } but was charged (${facts!.charge!.id})`,
          facts!.charge!,
        );
      }
    }
  }
}
