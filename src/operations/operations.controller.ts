import { Controller, Get, Header, Inject, Res } from "@nestjs/common";
import type { FastifyReply } from "fastify";
import { ApiOperation, ApiProduces, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { AdminOnly } from "../auth/auth.decorators.ts";
import { SkipRateLimit } from "../rate-limit/rate-limit.decorators.ts";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { logger } from "../common/json-logger.ts";
import { metrics } from "../common/metrics.ts";

/**
 * Liveness, readiness and Prometheus metrics. Unauthenticated and never rate limited, so
 * /health shows states only; the positions, lag and error text are at /admin/health.
 */
@Controller()
@SkipRateLimit()
@ApiTags("Operations")
export class OperationsController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(ProjectionRunner) private readonly projections: ProjectionRunner,
  ) {}

  @Get("health")
  @ApiOperation({ summary: "Event store and projection states (503 while unhealthy)" })
  @ApiErrors([503, "Unhealthy: the body still lists each component's state."])
  async health(@Res({ passthrough: true }) reply: FastifyReply) {
    const { healthy, body } = await healthReport(this.store, this.projections, false);
    reply.status(healthy ? 200 : 503);
    return body;
  }

  @Get("metrics")
  @ApiOperation({ summary: "Prometheus metrics" })
  @ApiProduces("text/plain")
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

/** The same health, with the details an operator needs: head, checkpoints, lag, errors. */
@Controller("admin")
@AdminOnly()
@ApiTags("Admin")
export class AdminHealthController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(ProjectionRunner) private readonly projections: ProjectionRunner,
  ) {}

  @Get("health")
  @ApiOperation({ summary: "Health with head position, checkpoints, lag and errors" })
  @ApiErrors([503, "Unhealthy: the body still lists each component's state."])
  async health(@Res({ passthrough: true }) reply: FastifyReply) {
    const { healthy, body } = await healthReport(this.store, this.projections, true);
    reply.status(healthy ? 200 : 503);
    return body;
  }
}

/** The health body: states only, or (`detailed`) with head, checkpoints, lag and errors. */
async function healthReport(store: EventStore, runner: ProjectionRunner, detailed: boolean) {
  let eventStore: { status: "up" | "down"; head_position?: string; error?: string };
  try {
    await store.ping();
    eventStore = { status: "up", head_position: String(await store.headPosition()) };
  } catch (error) {
    // Even the admin view names no paths or hosts: those go to the log.
    logger.write("error", "event store health check failed", { error: (error as Error).message });
    eventStore = { status: "down", error: "event store unreachable" };
  }
  const projections = eventStore.status === "up" ? await runner.status() : [];
  const failed = projections.some((projection) => projection.state === "failed");
  const healthy = eventStore.status === "up" && !failed;
  const body = {
    status: healthy ? "ok" : "degraded",
    event_store: detailed ? eventStore : { status: eventStore.status },
    projections: projections.map((projection) =>
      detailed
        ? {
          name: projection.name,
          version: projection.version,
          state: projection.state,
          checkpoint: String(projection.checkpoint),
          lag: Number(projection.lag),
          ...(projection.error ? { error: projection.error } : {}),
        }
        : { name: projection.name, state: projection.state }
    ),
  };
  return { healthy, body };
}
