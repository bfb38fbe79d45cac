import { Controller, Get, Inject, Param, Query } from "@nestjs/common";
import { ApiOperation, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../api-docs/api-docs.decorators.ts";
import {
  listReplays,
  replayBalance,
  replayTransactions,
  withReplay,
} from "../audit/replay-reader.ts";
import { accountTimeline } from "../audit/timeline.ts";
import { AdminOnly } from "../auth/auth.decorators.ts";
import { ApiError } from "../common/api-error.ts";
import { parseLimit, parsePosition } from "../common/query-params.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { EVENT_STORE, type EventStore } from "../event-store/event-store.port.ts";

/**
 * Events one timeline page reads at most: on a large store a page can come back short (even
 * empty) with `next_after`, so no request scans the whole history.
 */
const TIMELINE_SCAN_LIMIT = 50_000;

/**
 * The audit views of the admin API: an account's causal timeline, straight from the event
 * store, and the replays `cli replay` built (read models as they stood at an instant), read
 * from their files under DATA_DIR/replays. Read-only.
 */
@Controller("admin")
@AdminOnly()
@ApiTags("Admin")
export class AdminAuditController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Every event that touched the account, oldest first, each with its cause (the request, job,
   * payment, grant, pod or realtime session) and its links (hold, charge, purchase, …).
   */
  @Get("accounts/:id/timeline")
  @ApiOperation({ summary: "An account's events in order, each linked to what caused it" })
  @ApiErrors(400)
  async timeline(
    @Param("id") accountId: string,
    @Query("after") after?: unknown,
    @Query("limit") limit?: unknown,
  ) {
    const page = await accountTimeline(this.store, accountId, {
      after: parsePosition(after, "after") ?? 0n,
      limit: parseLimit(limit, { fallback: 100, max: 500 }),
      maxScanned: TIMELINE_SCAN_LIMIT,
    });
    return {
      object: "list",
      account_id: accountId,
      data: page.entries,
      scanned: page.scanned,
      next_after: page.nextAfter === null ? null : String(page.nextAfter),
    };
  }

  @Get("replays")
  @ApiOperation({ summary: "Replays built by `cli replay` (read models at an instant)" })
  replays() {
    return { object: "list", data: listReplays(this.config.dataDir) };
  }

  @Get("replays/:name/accounts/:id/balance")
  @ApiOperation({ summary: "An account's balance in a replay" })
  @ApiErrors([404, "`replay_not_found`"])
  replayBalance(@Param("name") name: string, @Param("id") accountId: string) {
    return this.read(name, (db) => replayBalance(db, accountId));
  }

  @Get("replays/:name/accounts/:id/transactions")
  @ApiOperation({ summary: "An account's transactions in a replay, newest first" })
  @ApiErrors(400, [404, "`replay_not_found`"])
  replayTransactions(
    @Param("name") name: string,
    @Param("id") accountId: string,
    @Query("limit") limit?: unknown,
    @Query("before") before?: unknown,
  ) {
    const pageSize = parseLimit(limit, { fallback: 50, max: 500 });
    const cursor = parsePosition(before, "before");
    return this.read(name, (db) => replayTransactions(db, accountId, pageSize, cursor));
  }

  private read<T>(name: string, query: Parameters<typeof withReplay<T>>[2]): T {
    const result = withReplay(this.config.dataDir, name, query);
    if (result === undefined) {
      throw ApiError.notFound(`No replay named '${name}'.`, "replay_not_found", "name");
    }
    return result;
  }
}
