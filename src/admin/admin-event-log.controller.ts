import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from "@nestjs/common";
import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import { AdminOnly } from "../auth/auth.decorators.ts";
import { visibleEventData } from "../auth/hidden-fields.ts";
import { ApiError } from "../common/api-error.ts";
import { parseLimit, parseOneOf, parsePosition, queryString } from "../common/query-params.ts";
import { NoBody } from "../common/validation.ts";
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
@ApiTags("Admin")
export class AdminEventLogController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(ProjectionRunner) private readonly projections: ProjectionRunner,
  ) {}

  @Get("projections")
  @ApiOperation({ summary: "Projections with checkpoint, head, lag and state" })
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
  @ApiOperation({ summary: "Rebuild a projection from position zero" })
  @ApiErrors([404, "`projection_not_found`"])
  @HttpCode(200)
  async rebuild(@Param("name") name: string, @Body() _body: NoBody) {
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
  @ApiOperation({ summary: "Browse the event history (`$all`), oldest first after a position" })
  async events(
    // Typed `unknown`: a repeated key arrives as an array (the helpers refuse it).
    @Query("after") after?: unknown,
    @Query("limit") limit?: unknown,
    @Query("stream_prefix") streamPrefix?: unknown,
    @Query("type") type?: unknown,
  ) {
    const from = parsePosition(after, "after") ?? 0n;
    const maxCount = parseLimit(limit, { fallback: 100, max: MAX_PAGE });
    const prefix = queryString(streamPrefix, "stream_prefix");
    const types = queryString(type, "type", 4096)?.split(",");
    const events = await this.store.readAll({
      from,
      maxCount,
      filter: prefix || types
        ? {
          ...(prefix ? { streamPrefixes: [prefix] } : {}),
          ...(types ? { eventTypes: types } : {}),
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
  @ApiOperation({ summary: "Read one stream's events" })
  @ApiErrors([404, "`stream_not_found`"])
  async stream(
    @Param("stream") stream: string,
    @Query("from") from?: unknown,
    @Query("limit") limit?: unknown,
    @Query("direction") direction?: unknown,
  ) {
    const position = parsePosition(from, "from");
    const events = await this.store.readStream(stream, {
      from: position,
      maxCount: parseLimit(limit, { fallback: 100, max: MAX_PAGE }),
      direction: parseOneOf(direction, "direction", ["forwards", "backwards"] as const),
    });
    if (events.length === 0 && position === undefined) {
      throw ApiError.notFound(`Stream '${stream}' has no events.`, "stream_not_found", "stream");
    }
    return { object: "list", stream, data: events.map(toJson) };
  }
}

function toJson(event: RecordedEvent) {
  return {
    id: event.id,
    type: event.type,
    stream: event.stream,
    revision: Number(event.revision),
    position: Number(event.position),
    created_at: event.createdAt.toISOString(),
    data: visibleEventData(event),
    metadata: event.metadata,
  };
}
