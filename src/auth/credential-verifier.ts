import { Inject, Injectable } from "@nestjs/common";
import type { StatementSync } from "node:sqlite";
import { ApiError } from "../common/api-error.ts";
import { CLOCK, type Clock } from "../common/clock.ts";
import { ProjectionRunner } from "../projections/projection-runner.ts";
import { ReadModelDatabase } from "../projections/read-model.database.ts";
import { CREDENTIALS_PROJECTION } from "./credentials.projection.ts";
import { KeyUsageTracker } from "./key-usage.tracker.ts";
import { type Permission, PERMISSIONS, type Principal } from "./principal.ts";
import { credentialKind, digestsEqual, sha256Hex } from "./secrets.ts";

const MISSING_KEY_MESSAGE =
  "You didn't provide an API key. You need to provide your API key in an " +
  "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";

/** Extracts the token of `Authorization: Bearer <token>`; undefined when absent or malformed. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== "string") return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

interface ApiKeyRow {
  id: string;
  account_id: string;
  permissions: string;
  key_hash: string;
  revoked_at: string | null;
  expires_at: string | null;
  previous_key_hash: string | null;
  previous_valid_until: string | null;
}

interface KnownKey {
  row?: ApiKeyRow;
  /** The presented secret is the one a rotation replaced (valid until previous_valid_until). */
  previous?: boolean;
  principal?: Principal;
}

/** Most API keys whose rows are kept between requests (a bound on memory, not on correctness). */
const KEY_CACHE_LIMIT = 10_000;

/**
 * Turns a presented API key or session token into a Principal. Looks the SHA-256 of the secret
 * up in the credentials read model after waiting for the read models to have applied every
 * event a projection reads (untilCurrent), so a key revoked or rotated, a session ended or an
 * account disabled by any instance sharing the store fails on the next request. Key rows and
 * disabled flags are cached until that projection next changes; times (expiry, a rotation's
 * grace) are compared with the clock on every request, so the cache never outlives them.
 */
@Injectable()
export class CredentialVerifier {
  private keyLookup?: StatementSync;
  private previousKeyLookup?: StatementSync;
  private sessionLookup?: StatementSync;
  private disabledLookup?: StatementSync;
  /** Known keys by hash (misses too), valid while the projection's change count is `seenAt`. */
  private readonly keys = new Map<string, KnownKey>();
  /** Whether each account seen is disabled, valid under the same change count. */
  private readonly disabled = new Map<string, boolean>();
  private seenAt = -1;

  constructor(
    @Inject(ProjectionRunner) private readonly runner: ProjectionRunner,
    @Inject(ReadModelDatabase) private readonly readModels: ReadModelDatabase,
    @Inject(KeyUsageTracker) private readonly usage: KeyUsageTracker,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async authenticate(authorization: unknown): Promise<Principal> {
    if (authorization === undefined || authorization === "") {
      throw ApiError.unauthorized(MISSING_KEY_MESSAGE);
    }
    const token = bearerToken(authorization);
    const kind = token ? credentialKind(token) : undefined;
    if (!token || !kind) {
      throw ApiError.unauthorized(
        "Malformed API key. Send 'Authorization: Bearer mp_live_…' with a key from /api/keys.",
      );
    }
    await this.runner.untilCurrent([CREDENTIALS_PROJECTION]);
    const hash = sha256Hex(token);
    return kind === "api_key" ? this.apiKeyPrincipal(token, hash) : this.sessionPrincipal(hash);
  }

  /** The session in the console's cookie (only a session token is accepted there). */
  async authenticateSessionCookie(token: string): Promise<Principal> {
    if (credentialKind(token) !== "session") {
      throw ApiError.unauthorized("Invalid session cookie; log in again.");
    }
    await this.runner.untilCurrent([CREDENTIALS_PROJECTION]);
    return this.sessionPrincipal(sha256Hex(token));
  }

  private apiKeyPrincipal(token: string, hash: string): Principal {
    const known = this.knownKey(hash);
    const row = known.row;
    if (!row) {
      throw ApiError.unauthorized(`Incorrect API key provided: ${redact(token)}.`);
    }
    if (row.revoked_at !== null) {
      throw ApiError.unauthorized(`This API key has been revoked: ${redact(token)}.`);
    }
    const now = this.clock.now().getTime();
    if (
      known.previous && !(row.previous_valid_until && Date.parse(row.previous_valid_until) > now)
    ) {
      throw ApiError.unauthorized(
        `This API key has been rotated; use its new secret: ${redact(token)}.`,
      );
    }
    if (row.expires_at !== null && Date.parse(row.expires_at) <= now) {
      throw ApiError.unauthorized(`This API key expired at ${row.expires_at}: ${redact(token)}.`);
    }
    this.refuseDisabled(row.account_id);
    this.usage.record(row.id, row.account_id);
    known.principal ??= {
      accountId: row.account_id,
      kind: "api_key",
      keyId: row.id,
      permissions: Object.freeze(JSON.parse(row.permissions) as Permission[]),
      actor: `account:${row.account_id}/key:${row.id}`,
    };
    return known.principal;
  }

  /** The key's row as the read model has it now: cached until the projection changes again. */
  private knownKey(hash: string): KnownKey {
    this.forgetIfChanged();
    let known = this.keys.get(hash);
    if (!known) {
      const columns = "id, account_id, permissions, key_hash, revoked_at, expires_at, " +
        "previous_key_hash, previous_valid_until";
      this.keyLookup ??= this.readModels.db.prepare(
        `SELECT ${columns} FROM auth_api_keys WHERE key_hash = ?`,
      );
      this.previousKeyLookup ??= this.readModels.db.prepare(
        `SELECT ${columns} FROM auth_api_keys WHERE previous_key_hash = ?`,
      );
      // The index (and this map) find the row by a hash of the secret, so their timing reveals
      // nothing usable; the comparison that admits it is constant-time anyway.
      const current = this.keyLookup.get(hash) as ApiKeyRow | undefined;
      if (current && digestsEqual(current.key_hash, hash)) {
        known = { row: current };
      } else {
        const previous = this.previousKeyLookup.get(hash) as ApiKeyRow | undefined;
        known = previous?.previous_key_hash && digestsEqual(previous.previous_key_hash, hash)
          ? { row: previous, previous: true }
          : {};
      }
      this.keys.set(hash, known);
    }
    return known;
  }

  private sessionPrincipal(hash: string): Principal {
    this.sessionLookup ??= this.readModels.db.prepare(
      "SELECT id, account_id, token_hash, expires_at, ended_at FROM auth_sessions WHERE token_hash = ?",
    );
    const row = this.sessionLookup.get(hash) as
      | {
        id: string;
        account_id: string;
        token_hash: string;
        expires_at: string;
        ended_at: string | null;
      }
      | undefined;
    if (!row || !digestsEqual(row.token_hash, hash)) {
      throw ApiError.unauthorized("Invalid session token; log in again.");
    }
    if (row.ended_at !== null) {
      throw ApiError.unauthorized("This session has ended; log in again.");
    }
    if (Date.parse(row.expires_at) <= this.clock.now().getTime()) {
      throw ApiError.unauthorized("The session has expired; log in again.");
    }
    this.forgetIfChanged();
    this.refuseDisabled(row.account_id);
    return {
      accountId: row.account_id,
      kind: "session",
      sessionId: row.id,
      permissions: PERMISSIONS,
      actor: `account:${row.account_id}`,
    };
  }

  private refuseDisabled(accountId: string): void {
    let disabled = this.disabled.get(accountId);
    if (disabled === undefined) {
      this.disabledLookup ??= this.readModels.db.prepare(
        "SELECT 1 AS found FROM auth_disabled_accounts WHERE account_id = ?",
      );
      disabled = this.disabledLookup.get(accountId) !== undefined;
      this.disabled.set(accountId, disabled);
    }
    if (disabled) {
      throw ApiError.forbidden(
        "This account has been disabled. Contact the operator of this service.",
        "account_disabled",
      );
    }
  }

  /** Drops every cached row once the projection has changed (or the caches grew too large). */
  private forgetIfChanged(): void {
    const seenAt = this.runner.changeCount(CREDENTIALS_PROJECTION);
    if (
      seenAt !== this.seenAt || this.keys.size >= KEY_CACHE_LIMIT ||
      this.disabled.size >= KEY_CACHE_LIMIT
    ) {
      this.keys.clear();
      this.disabled.clear();
      this.seenAt = seenAt;
    }
  }
}

function redact(token: string): string {
  return `${token.slice(0, 12)}${"*".repeat(4)}${token.slice(-4)}`;
}
