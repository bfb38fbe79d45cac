import { Controller, Get, Header, Inject, Res } from "@nestjs/common";
import type { FastifyReply } from "fastify";
import { SkipRateLimit } from "../common/rate-limit/rate-limit.decorators.ts";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { logger } from "../common/json-logger.ts";
import { metrics } from "./metrics.ts";

/** Liveness, readiness and Prometheus metrics. Unauthenticated and never rate limited. */
@Controller()
@SkipRateLimit()
export class OperationsController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(ProjectionRunner) private readonly projections: ProjectionRunner,
  ) {}

  @Get("health")
  async health(@Res({ passthrough: true }) reply: FastifyReply) {
    let eventStore: { status: "up" | "down"; head_position?: string; error?: string };
    try {
      await this.store.ping();
      eventStore = { status: "up", head_position: String(await this.store.headPosition()) };
    } catch (error) {
      // /health is unauthenticated: the details (paths, hosts) go to the log, not the reply.
      logger.write("error", "event store health check failed", { error: (error as Error).message });
      eventStore = { status: "down", error: "event store unreachable" };
    }
    const projections = eventStore.status === "up" ? await this.projections.status() : [];
    const failed = projections.some((projection) => projection.state === "failed");
    const healthy = eventStore.status === "up" && !failed;
    reply.status(healthy ? 200 : 503);
    return {
      status: healthy ? "ok" : "degraded",
      event_store: eventStore,
      projections: projections.map((projection) => ({
        name: projection.name,
        version: projection.version,
        state: projection.state,
        checkpoint: String(projection.checkpoint),
        lag: Number(projection.lag),
        ...(projection.error ? { error: projection.error } : {}),
      })),
    };
  }

  @Get("metrics")
  @Header("content-type", "text/plain; version=0.0.4; charset=utf-8")
  async metrics(): Promise<string> {
    try {
      for (const projection of await this.projections.status()) {
        metrics.projectionLag.set({ projection: projection.name }, Number(projection.lag));
        metrics.projectionCheckpoint.set(
          { projection: projection.name },
          Number(projection.checkpoint),
        );
      }
    } catch {
      // The event store being down is reported by /health; metrics still render what they have.
    }
    return metrics.render();
  }
}
