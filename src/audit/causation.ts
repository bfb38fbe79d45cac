import type { RecordedEvent } from "../event-store/event-store.port.ts";

/**
 * What caused an event, read from the event alone plus what came before it: the root of its
 * chain (a request, a job, a payment, a grant, a pod, a realtime session) and links to the
 * other members of the chain (request → hold → settlement, job → charge → refund,
 * payment → purchase → bonus). Shared by `cli timeline` and `GET /admin/accounts/{id}/timeline`.
 */
export interface Cause {
  kind:
    | "request"
    | "job"
    | "payment"
    | "grant"
    | "deployment"
    | "realtime_session"
    | "reference"
    | "actor";
  id: string;
}

export interface CauseLink {
  /** What the linked id is: `hold`, `charge`, `inference`, `request`, `purchase`, `stripe_event`, … */
  rel: string;
  id: string;
  /** Where the event that introduced the id sits, when this scan has seen it. */
  position: number | null;
}

export interface Caused {
  cause: Cause;
  links: CauseLink[];
}

/** The account an event belongs to, by its metadata or its data (undefined: no account). */
export function accountOf(event: RecordedEvent): string | undefined {
  const fromMetadata = event.metadata?.accountId;
  if (typeof fromMetadata === "string") return fromMetadata;
  const fromData = (event.data as { accountId?: unknown } | null)?.accountId;
  return typeof fromData === "string" ? fromData : undefined;
}

/** Business time of an event when its data carries one, else when it was recorded. */
export function businessTime(event: RecordedEvent): string {
  const data = (event.data ?? {}) as Record<string, unknown>;
  for (
    const field of [
      "at",
      "finishedAt",
      "startedAt",
      "registeredAt",
      "requestedAt",
      "createdAt",
      "stoppedAt",
      "completedAt",
      "endedAt",
      "checkedAt",
      "terminatedAt",
      "revokedAt",
    ]
  ) {
    if (typeof data[field] === "string") return data[field] as string;
  }
  return event.createdAt.toISOString();
}

/** The chain a ledger `reference` names (`inference:<id>`, `job:<id>`, `deployment:<id>`, …). */
export function causeOfReference(reference: string, requestId?: string): Cause {
  const colon = reference.indexOf(":");
  const prefix = colon > 0 ? reference.slice(0, colon) : "";
  const id = reference.slice(colon + 1);
  switch (prefix) {
    case "inference":
      return { kind: "request", id: requestId ?? inferenceIdOfReservation(id) };
    case "job":
      return { kind: "job", id };
    case "deployment":
      return { kind: "deployment", id };
    case "realtime":
      return { kind: "realtime_session", id };
    default:
      return { kind: "reference", id: reference };
  }
}

/** A request's hold is `<inferenceId>` or `<inferenceId>.<attempt>` (inference-run.ts). */
export function inferenceIdOfReservation(reservationId: string): string {
  const dot = reservationId.indexOf(".");
  return dot > 0 ? reservationId.slice(0, dot) : reservationId;
}

interface Known {
  position: number;
  cause: Cause;
}

/**
 * Walks events in position order and answers each one's cause. Remembers every hold, charge,
 * payment and job it has seen (by id), so a settlement links back to its hold and a refund to
 * its charge. Memory grows with the ids seen: callers bound the scan.
 */
export class CausationIndex {
  private readonly holds = new Map<string, Known>();
  private readonly charges = new Map<string, Known>();
  private readonly payments = new Map<string, Known>();
  private readonly jobs = new Map<string, Known>();

  explain(event: RecordedEvent): Caused {
    const data = (event.data ?? {}) as Record<string, any>;
    const requestId = typeof event.metadata?.requestId === "string"
      ? event.metadata.requestId
      : undefined;
    const position = Number(event.position);
    const link = (rel: string, id: string, known?: Known): CauseLink => ({
      rel,
      id,
      position: known?.position ?? null,
    });
    switch (event.type) {
      case "CreditsReserved": {
        const cause = causeOfReference(data.reference, requestId);
        this.holds.set(data.reservationId, { position, cause });
        return { cause, links: this.chainLinks(cause, data.reference) };
      }
      case "CreditsCharged":
      case "ChargeWrittenOff": {
        const hold = data.reservationId ? this.holds.get(data.reservationId) : undefined;
        const cause = hold?.cause ?? causeOfReference(data.reference, requestId);
        if (event.type === "CreditsCharged") this.charges.set(data.chargeId, { position, cause });
        const links = this.chainLinks(cause, data.reference);
        if (data.reservationId) links.push(link("hold", data.reservationId, hold));
        return { cause, links };
      }
      case "ReservationReleased": {
        const hold = this.holds.get(data.reservationId);
        return {
          cause: hold?.cause ?? { kind: "reference", id: data.reservationId },
          links: [link("hold", data.reservationId, hold)],
        };
      }
      case "CreditsRefunded": {
        const charge = this.charges.get(data.chargeId);
        return {
          cause: charge?.cause ?? { kind: "reference", id: data.chargeId },
          links: [link("charge", data.chargeId, charge)],
        };
      }
      case "CreditsPurchased": {
        const cause: Cause = { kind: "payment", id: data.paymentReference };
        this.payments.set(data.paymentReference, { position, cause });
        const stripeEvent = event.metadata?.causationId;
        return {
          cause,
          links: typeof stripeEvent === "string" ? [link("stripe_event", stripeEvent)] : [],
        };
      }
      case "CreditsGranted": {
        if (data.paymentReference) {
          const purchase = this.payments.get(data.paymentReference);
          return {
            cause: { kind: "payment", id: data.paymentReference },
            links: [link("purchase", data.paymentReference, purchase)],
          };
        }
        return { cause: { kind: "grant", id: data.grantId }, links: [] };
      }
      case "InferenceCompleted":
      case "InferenceFailed": {
        const key = data.reservationId ?? data.inferenceId;
        const links = [link("inference", data.inferenceId)];
        const hold = this.holds.get(key);
        if (hold || data.chargedMicros > 0) links.push(link("hold", key, hold));
        if (this.charges.has(key)) links.push(link("charge", key, this.charges.get(key)));
        return { cause: { kind: "request", id: data.requestId }, links };
      }
      case "JobSubmitted":
      case "JobCompleted":
      case "JobFailed":
      case "JobCancelled": {
        const cause: Cause = { kind: "job", id: data.jobId };
        if (event.type === "JobSubmitted") this.jobs.set(data.jobId, { position, cause });
        const links: CauseLink[] = [];
        if (event.type === "JobSubmitted" && requestId) links.push(link("request", requestId));
        else links.push(link("job", data.jobId, this.jobs.get(data.jobId)));
        if (this.holds.has(data.jobId)) {
          links.push(link("hold", data.jobId, this.holds.get(data.jobId)));
        }
        return { cause, links };
      }
      case "DeploymentUsageMetered": {
        const chargeId = `metering:${data.deploymentId}:${data.minute}`;
        return {
          cause: { kind: "deployment", id: data.deploymentId },
          links: data.prepaid ? [] : [link("charge", chargeId, this.charges.get(chargeId))],
        };
      }
    }
    if (event.stream.startsWith("deployment-") && typeof data.deploymentId === "string") {
      return { cause: { kind: "deployment", id: data.deploymentId }, links: [] };
    }
    if (event.stream.startsWith("realtime-") && typeof data.sessionId === "string") {
      const links = typeof data.holdId === "string"
        ? [link("hold", data.holdId, this.holds.get(data.holdId))]
        : [];
      return { cause: { kind: "realtime_session", id: data.sessionId }, links };
    }
    if (requestId) return { cause: { kind: "request", id: requestId }, links: [] };
    const actor = typeof event.metadata?.actor === "string" ? event.metadata.actor : "unknown";
    return { cause: { kind: "actor", id: actor }, links: [] };
  }

  /** The request or job a ledger movement belongs to, as a link (the cause names the root). */
  private chainLinks(cause: Cause, reference: string): CauseLink[] {
    if (reference?.startsWith("inference:")) {
      const reservation = reference.slice("inference:".length);
      return [{ rel: "inference", id: inferenceIdOfReservation(reservation), position: null }];
    }
    if (cause.kind === "job") {
      return [{ rel: "job", id: cause.id, position: this.jobs.get(cause.id)?.position ?? null }];
    }
    return [];
  }
}
