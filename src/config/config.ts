/**
 * Typed configuration from the environment, validated once at start. A bad value stops the
 * process with one line naming the variable and what it allows (see main.ts). Every variable
 * is listed in README.md.
 */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface AppConfig {
  port: number;
  host: string;
  dataDir: string;
  /** Names this instance's read-model database, so instances sharing DATA_DIR don't collide. */
  instanceId: string;
  eventStoreConnectionString?: string;
  eventStoreSync: "normal" | "full";
  /** Where the embedded store commits: a worker thread (default) or the event loop's thread. */
  eventStoreWriter: "thread" | "inline";
  adminApiKey?: string;
  /** Encrypts secrets at rest (external upstream keys); default a key file under DATA_DIR. */
  secretsKey?: string;
  logLevel: LogLevel;
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  rateLimitPerMinute: number;
  trustProxy: boolean;
  redisUrl?: string;
  sessionTtlSeconds: number;
  modelsFile?: string;
  allowPrivateUpstreams: boolean;
  upstreamConnectTimeoutMs: number;
  upstreamFirstByteTimeoutMs: number;
  stripeSecretKey?: string;
  stripeWebhookSecret?: string;
  stripeApiBaseUrl?: string;
  publicBaseUrl: string;
  reservationTtlSeconds: number;
  runpodRestUrl: string;
  runpodApiUrl: string;
  runpodPodProxyUrl: string;
  runpodApiKey?: string;
  runpodDefaultGpu: string;
  runpodTimeoutMs: number;
  runpodMaxRetries: number;
  podPriceMultiplier: number;
  reconcileIntervalMs: number;
  meteringIntervalMs: number;
  generationSyncWaitMs: number;
  jobPollIntervalMs: number;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env): AppConfig {
  const read = new EnvReader(env);
  return {
    port: read.integer("PORT", 3000, 0, 65535),
    host: read.string("HOST", "0.0.0.0"),
    dataDir: read.string("DATA_DIR", "./data"),
    instanceId: read.pattern(
      "INSTANCE_ID",
      "main",
      /^[A-Za-z0-9_.-]{1,64}$/,
      "letters, digits, _ . - (1-64)",
    ),
    eventStoreConnectionString: read.optionalPattern(
      "EVENTSTORE_CONNECTION_STRING",
      /^(esdb|esdb\+discover|kurrentdb|kurrentdb\+discover|kurrent|kurrent\+discover):\/\/.+/,
      "an esdb://, esdb+discover://, kurrentdb:// or kurrentdb+discover:// connection string",
    ),
    eventStoreSync: read.oneOf("EVENT_STORE_SYNC", "normal", ["normal", "full"] as const),
    eventStoreWriter: read.oneOf("EVENT_STORE_WRITER", "thread", ["thread", "inline"] as const),
    adminApiKey: read.optionalSecret("ADMIN_API_KEY", 16),
    secretsKey: read.optionalSecret("SECRETS_KEY", 32),
    logLevel: read.oneOf(
      "LOG_LEVEL",
      "info",
      ["debug", "info", "warn", "error", "silent"] as const,
    ),
    bodyLimitBytes: read.integer("BODY_LIMIT_BYTES", 10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    shutdownGraceMs: read.integer("SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    rateLimitPerMinute: read.integer("RATE_LIMIT_PER_MINUTE", 100, 1, 1_000_000),
    trustProxy: read.boolean("TRUST_PROXY", false),
    redisUrl: read.optionalPattern("REDIS_URL", /^rediss?:\/\/.+/, "a redis:// or rediss:// URL"),
    sessionTtlSeconds: read.integer("SESSION_TTL_SECONDS", 7 * 24 * 3600, 60, 365 * 24 * 3600),
    modelsFile: read.optionalString("MODELS_FILE"),
    allowPrivateUpstreams: read.boolean("ALLOW_PRIVATE_UPSTREAMS", false),
    upstreamConnectTimeoutMs: read.integer("UPSTREAM_CONNECT_TIMEOUT_MS", 10_000, 1, 600_000),
    upstreamFirstByteTimeoutMs: read.integer(
      "UPSTREAM_FIRST_BYTE_TIMEOUT_MS",
      120_000,
      1,
      3_600_000,
    ),
    stripeSecretKey: read.optionalString("STRIPE_SECRET_KEY"),
    stripeWebhookSecret: read.optionalString("STRIPE_WEBHOOK_SECRET"),
    stripeApiBaseUrl: read.optionalPattern(
      "STRIPE_API_BASE_URL",
      /^https?:\/\/.+/,
      "an http(s) URL",
    ),
    publicBaseUrl: read.pattern(
      "PUBLIC_BASE_URL",
      "http://localhost:3000",
      /^https?:\/\/.+/,
      "an http(s) URL",
    ),
    reservationTtlSeconds: read.integer("RESERVATION_TTL_SECONDS", 900, 1, 7 * 24 * 3600),
    runpodRestUrl: read.pattern(
      "RUNPOD_REST_URL",
      "https://api.runpod.io/v2",
      /^https?:\/\/.+/,
      "an http(s) URL",
    ),
    runpodApiUrl: read.pattern(
      "RUNPOD_API_URL",
      "https://api.runpod.ai/v2",
      /^https?:\/\/.+/,
      "an http(s) URL",
    ),
    runpodPodProxyUrl: read.pattern(
      "RUNPOD_POD_PROXY_URL",
      "https://{podId}-{port}.proxy.runpod.net",
      /^https?:\/\/.*\{podId\}.*\{port\}|^https?:\/\/.*\{port\}.*\{podId\}/,
      "an http(s) URL template containing {podId} and {port}",
    ),
    runpodApiKey: read.optionalString("RUNPOD_API_KEY"),
    runpodDefaultGpu: read.string("RUNPOD_DEFAULT_GPU", "NVIDIA GeForce RTX 4090"),
    runpodTimeoutMs: read.integer("RUNPOD_TIMEOUT_MS", 30_000, 100, 600_000),
    runpodMaxRetries: read.integer("RUNPOD_MAX_RETRIES", 3, 0, 10),
    podPriceMultiplier: read.number("POD_PRICE_MULTIPLIER", 1.0, 0, 100),
    reconcileIntervalMs: read.integer("RECONCILE_INTERVAL_MS", 30_000, 100, 3_600_000),
    meteringIntervalMs: read.integer("METERING_INTERVAL_MS", 15_000, 100, 3_600_000),
    generationSyncWaitMs: read.integer("GENERATION_SYNC_WAIT_MS", 30_000, 1000, 300_000),
    jobPollIntervalMs: read.integer("JOB_POLL_INTERVAL_MS", 2_000, 50, 600_000),
  };
}

class EnvReader {
  constructor(private readonly env: Env) {}

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  optionalSecret(name: string, minLength: number): string | undefined {
    const value = this.raw(name);
    if (value !== undefined && value.length < minLength) {
      throw new ConfigError(`${name} must be at least ${minLength} characters long`);
    }
    return value;
  }

  pattern(name: string, fallback: string, pattern: RegExp, allowed: string): string {
    return this.optionalPattern(name, pattern, allowed) ?? fallback;
  }

  optionalPattern(name: string, pattern: RegExp, allowed: string): string | undefined {
    const value = this.raw(name);
    if (value !== undefined && !pattern.test(value)) {
      throw new ConfigError(`${name} must be ${allowed} (got "${redact(value)}")`);
    }
    return value;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${value}")`);
    }
    return parsed;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new ConfigError(`${name} must be a number from ${min} to ${max} (got "${value}")`);
    }
    return parsed;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (["true", "1", "yes"].includes(value)) return true;
    if (["false", "0", "no"].includes(value)) return false;
    throw new ConfigError(`${name} must be true or false (got "${value}")`);
  }

  oneOf<const T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(`${name} must be one of ${allowed.join(", ")} (got "${value}")`);
    }
    return value as T;
  }
}

/** Config errors may quote values; never quote anything that looks like a credential. */
function redact(value: string): string {
  return value.replace(/\/\/[^@/]*@/, "//***@");
}

/** Nest injection token for AppConfig. */
export const APP_CONFIG = Symbol("APP_CONFIG");
