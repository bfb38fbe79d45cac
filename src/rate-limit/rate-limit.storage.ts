import type { ThrottlerStorage } from "@nestjs/throttler";
import type { BackoffStorage } from "./backoff.ts";

/** What ThrottlerStorage#increment resolves to (the record type is not exported by name). */
export type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage["increment"]>>;

/**
 * Everything the limits count, in one store: the throttler's fixed windows (per IP, per key,
 * per account) and growing-delay records (per login email). It is the throttler's storage
 * provider (`getStorageToken()`), so the auth module reaches the same store.
 */
export interface RateLimitStorage extends ThrottlerStorage, BackoffStorage {}
