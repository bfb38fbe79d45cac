import { Controller, Get, HttpCode, Inject, Param, Post, Query } from "@nestjs/common";
import { AdminOnly } from "../auth/auth.decorators.ts";
import { ApiError } from "../common/api-error.ts";
import { parseLimit } from "../common/query-params.ts";
import {
  EVENT_STORE,
  type EventStore,
  type RecordedEvent,
} from "../event-store/event-store.port.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";

const MAX_PAGE = 1000;

/**
 * Operators' view of the history and the read side: browse `$all` and single streams, watch
 * every projection's checkpoint and lag, and rebuild a projection from zero.
 */
@Controller("admin")
@AdminOnly()
export class AdminEventLogController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(ProjectionRunner) private readonly projections: ProjectionRunner,
  ) {}

  @Get("projections")
  async listProjections() {
    const statuses = await this.projections.status();
    return {
      object: "list",
      data: statuses.map((status) => ({
        name: status.name,
        version: status.version,
        state: status.state,
        checkpoint: Number(status.checkpoint),
        head: Number(status.head),
        lag: Number(status.lag),
        error: status.error ?? null,
      })),
    };
  }

  @Post("projections/:name/rebuild")
  @HttpCode(200)
  async rebuild(@Param("name") name: string) {
    if (!this.projections.projections.some((projection) => projection.name === name)) {
      throw ApiError.notFound(`No projection named '${name}'.`, "projection_not_found", "name");
    }
    const started = performance.now();
    await this.projections.rebuild(name);
    const [status] = (await this.projections.status()).filter((entry) => entry.name === name);
    return {
      name,
      state: status.state,
      checkpoint: Number(status.checkpoint),
      duration_ms: Math.round(performance.now() - started),
    };
  }

  /** `$all` in position order. `after` is an exclusive position cursor. */
  @Get("events")
  async events(
    @Query("after") after?: string,
    @Query("limit") limit?: string,
    @Query("stream_prefix") streamPrefix?: string,
    @Query("type") type?: string,
  ) {
    const from = parsePosition(after, "after");
    const maxCount = parseLimit(limit, { fallback: 100, max: MAX_PAGE });
    const events = await this.store.readAll({
      from,
      maxCount,
      filter: streamPrefix || type
        ? {
          ...(streamPrefix ? { streamPrefixes: [streamPrefix] } : {}),
          ...(type ? { eventTypes: type.split(",") } : {}),
        }
        : undefined,
    });
    const last = events.at(-1);
    return {
      object: "list",
      data: events.map(toJson),
      has_more: events.length === maxCount,
      next_after: last ? String(last.position) : null,
    };
  }

  @Get("streams/:stream")
  async stream(
    @Param("stream") stream: string,
    @Query("from") from?: string,
    @Query("limit") limit?: string,
    @Query("direction") direction?: string,
  ) {
    if (direction !== undefined && direction !== "forwards" && direction !== "backwards") {
      throw ApiError.badRequest("direction must be 'forwards' or 'backwards'.", "direction");
    }
    const events = await this.store.readStream(stream, {
      from: from === undefined ? undefined : parsePosition(from, "from"),
      maxCount: parseLimit(limit, { fallback: 100, max: MAX_PAGE }),
      direction: direction as "forwards" | "backwards" | undefined,
    });
    if (events.length === 0 && from === undefined) {
      throw ApiError.notFound(`Stream '${stream}' has no events.`, "stream_not_found", "stream");
    }
    return { object: "list", stream, data: events.map(toJson) };
  }
}

/** Fields an HTTP client never receives, even an operator's: auth keeps them in their own events. */
const HIDDEN_FIELDS: Record<string, readonly string[]> = { PasswordSet: ["passwordHash"] };

function toJson(event: RecordedEvent) {
  return {
    id: event.id,
    type: event.type,
    stream: event.stream,
    revision: Number(event.revision),
    position: Number(event.position),
    created_at: event.createdAt.toISOString(),
    data: visibleData(event),
    metadata: event.metadata,
  };
}

function visibleData(event: RecordedEvent): unknown {
  const hidden = HIDDEN_FIELDS[event.type];
  if (!hidden) return event.data;
  const data = { ...(event.data as Record<string, unknown>) };
  for (const field of hidden) if (field in data) data[field] = "[redacted]";
  return data;
}

function parsePosition(value: string | undefined, param: string): bigint {
  if (value === undefined || value === "") return 0n;
  if (!/^\d{1,19}$/.test(value)) {
    throw ApiError.badRequest(`${param} must be a non-negative integer.`, param);
  }
  return BigInt(value);
}
