import { Inject, Injectable } from "@nestjs/common";
import { CLOCK, type Clock } from "../common/clock.ts";
import { newId } from "../common/ids.ts";
import type { EventMetadata } from "../event-store/event-store.port.ts";
import { AuthRuleViolation } from "./account.decider.ts";
import { AuthStreams } from "./auth-streams.ts";
import type { Permission } from "./principal.ts";
import { apiKeyDisplayPrefix, newApiKey, sha256Hex } from "./secrets.ts";

export interface CreatedApiKey {
  id: string;
  /** The full key: returned once, never stored. */
  key: string;
  name: string;
  permissions: Permission[];
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  /** After a rotation with a grace period: until when the replaced secret still works. */
  previousValidUntil: string | null;
  position: bigint;
}

/**
 * API key use cases on the `account-` stream. Secrets are generated here and leave only as
 * hashes, except the one copy returned to the caller.
 */
@Injectable()
export class ApiKeyCommandHandler {
  constructor(
    @Inject(AuthStreams) private readonly streams: AuthStreams,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async createApiKey(
    accountId: string,
    request: { name: string; permissions: Permission[]; expiresAt?: string },
    metadata: EventMetadata,
  ): Promise<CreatedApiKey> {
    const now = this.clock.now().toISOString();
    const expiresAt = request.expiresAt === undefined
      ? undefined
      : futureInstant(request.expiresAt, now);
    const key = newApiKey();
    const keyId = newId("key");
    const permissions = [...new Set(request.permissions)];
    const prefix = apiKeyDisplayPrefix(key);
    const position = await this.streams.onAccount(accountId, {
      type: "CreateApiKey",
      key: {
        accountId,
        keyId,
        name: request.name,
        permissions,
        prefix,
        keyHash: sha256Hex(key),
        ...(expiresAt ? { expiresAt } : {}),
      },
      now,
    }, metadata);
    return {
      id: keyId,
      key,
      name: request.name,
      permissions,
      prefix,
      createdAt: now,
      expiresAt: expiresAt ?? null,
      previousValidUntil: null,
      position,
    };
  }

  async revokeApiKey(accountId: string, keyId: string, metadata: EventMetadata): Promise<bigint> {
    return await this.streams.onAccount(accountId, {
      type: "RevokeApiKey",
      accountId,
      keyId,
      now: this.clock.now().toISOString(),
    }, metadata);
  }

  /**
   * A new secret for the same key id, name, permissions and expiry. The replaced secret stops
   * working at once, or after `gracePeriodSeconds` so deployed clients can switch over.
   */
  async rotateApiKey(
    accountId: string,
    keyId: string,
    options: { gracePeriodSeconds: number; callerPermissions: readonly Permission[] },
    metadata: EventMetadata,
  ): Promise<CreatedApiKey> {
    // Name, permissions and expiry never change after creation, so reading them first is exact.
    const current = (await this.streams.account(accountId)).keys.get(keyId);
    if (!current || current.revoked) {
      throw new AuthRuleViolation("api_key_not_found", `No API key with id '${keyId}'.`);
    }
    // The new secret is handed to the caller: like creation, it cannot be stronger than theirs.
    const missing = current.permissions.find((permission) =>
      !options.callerPermissions.includes(permission)
    );
    if (missing) {
      throw new AuthRuleViolation(
        "insufficient_permissions",
        `This API key does not have the '${missing}' permission, so it cannot rotate a key that has it.`,
      );
    }
    const gracePeriodSeconds = options.gracePeriodSeconds;
    const key = newApiKey();
    const prefix = apiKeyDisplayPrefix(key);
    const now = this.clock.now();
    const previousValidUntil = gracePeriodSeconds > 0
      ? new Date(now.getTime() + gracePeriodSeconds * 1000).toISOString()
      : null;
    const position = await this.streams.onAccount(accountId, {
      type: "RotateApiKey",
      key: { accountId, keyId, prefix, keyHash: sha256Hex(key), previousValidUntil },
      now: now.toISOString(),
    }, metadata);
    return {
      id: keyId,
      key,
      name: current.name,
      permissions: current.permissions,
      prefix,
      createdAt: current.createdAt,
      expiresAt: current.expiresAt ?? null,
      previousValidUntil,
      position,
    };
  }
}

/** The expiry as a canonical ISO instant, which must lie after `now`. */
function futureInstant(text: string, now: string): string {
  const time = Date.parse(text);
  if (Number.isNaN(time) || time <= Date.parse(now)) {
    throw new AuthRuleViolation(
      "invalid_expiry",
      "expires_at must be a date-time in the future, e.g. 2030-01-31T00:00:00Z.",
      "expires_at",
    );
  }
  return new Date(time).toISOString();
}
