import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import type { LogLevel } from "../common/json-logger.ts";

/**
 * Typed configuration from the environment, validated once at start. A bad value stops the
 * process with one line naming the variable and what it allows (see main.ts). Every variable
 * is listed in README.md.
 *
 * Longer than most files on purpose: it is one table, a line per variable, so every setting and
 * its bounds are read in one place.
 */
export type { LogLevel };

export interface AppConfig {
  /**
   * Gateway processes `npm start` runs on one port (WORKERS, `auto` = one per core). 1 serves
   * in this process; more start a supervisor (cluster/supervisor.ts) and that many workers.
   */
  workers: number;
  /** Set in a worker by its supervisor (WORKER_INDEX, 1..workers); undefined when standalone. */
  workerIndex?: number;
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
  /** A file holding the secrets key, so it can live outside DATA_DIR (and its backups). */
  secretsKeyFile?: string;
  logLevel: LogLevel;
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  rateLimitPerMinute: number;
  /** Requests per minute per API key or session, and per account across all its credentials. */
  rateLimitPerKeyPerMinute: number;
  rateLimitPerAccountPerMinute: number;
  /** Failed logins per email before each further attempt must wait (the wait doubles). */
  loginFailuresBeforeDelay: number;
  /**
   * Which X-Forwarded-For hops to believe: `false` (none, the socket address is the client),
   * a hop count (that many proxies in front of us) or a list of trusted proxy addresses/CIDRs.
   */
  trustProxy: false | number | string[];
  /**
   * HTTPS for every route (and wss: for realtime) when both are set: a PEM certificate chain and
   * its unencrypted PEM key, read and checked at start (config/tls-credentials.ts).
   */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  redisUrl?: string;
  sessionTtlSeconds: number;
  modelsFile?: string;
  allowPrivateUpstreams: boolean;
  upstreamConnectTimeoutMs: number;
  upstreamFirstByteTimeoutMs: number;
  /** A model-group member that failed with a 5xx or refused the connection is skipped this long. */
  modelGroupCooldownMs: number;
  /** Upstream bodies: the most bytes read, the largest SSE frame, the longest pause, the longest read. */
  upstreamMaxResponseBytes: number;
  upstreamMaxFrameBytes: number;
  upstreamIdleTimeoutMs: number;
  upstreamTotalTimeoutMs: number;
  /** Client connections: whole request, headers, idle keep-alive, and how many at once. */
  httpRequestTimeoutMs: number;
  httpHeadersTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
  httpMaxConnections: number;
  /**
   * A stream whose client has not drained for this long is ended and its upstream aborted; any
   * other answer its client leaves unread that long has its connection closed.
   */
  streamStallTimeoutMs: number;
  /** Upstream calls one account may have open at once; past it, 429 concurrency_limit_exceeded. */
  maxConcurrentRequestsPerAccount: number;
  stripeSecretKey?: string;
  stripeWebhookSecret?: string;
  stripeApiBaseUrl?: string;
  /**
   * Origin (and optional path prefix) of absolute links, without a trailing slash. Unset: each
   * request's own origin (see common/public-origin.ts).
   */
  publicBaseUrl?: string;
  /** Lifetime of signed artifact URLs handed out in generation responses. */
  artifactUrlTtlSeconds: number;
  reservationTtlSeconds: number;
  runpodRestUrl: string;
  runpodApiUrl: string;
  runpodPodProxyUrl: string;
  runpodApiKey?: string;
  runpodDefaultGpu: string;
  /** GPU type ids a deploy may ask for. */
  runpodAllowedGpus: string[];
  /** Minutes of the pod's price held at deploy, so an account that cannot pay gets no pod. */
  podMinPrepaidMinutes: number;
  maxPodsPerAccount: number;
  runpodTimeoutMs: number;
  runpodMaxRetries: number;
  podPriceMultiplier: number;
  reconcileIntervalMs: number;
  meteringIntervalMs: number;
  /** Idle sweep period: pods past their idle_timeout_s are stopped (reason `idle`). */
  idleSweepIntervalMs: number;
  /** Longest a request waits for a sleeping pod to wake; then 503 `model_warming_up`. */
  coldStartWaitMs: number;
  generationSyncWaitMs: number;
  jobPollIntervalMs: number;
  /** How often completed requests whose charge is missing are looked for and settled. */
  chargeReconcileIntervalMs: number;
  /** RunPod load-balancing endpoint URL template with `{endpointId}` (realtime catalogue models). */
  runpodLbUrl: string;
  /** Realtime sessions: longest session, largest frame, longest silence both ways. */
  realtimeMaxSessionS: number;
  realtimeMaxMessageBytes: number;
  realtimeIdleTimeoutMs: number;
  /** Bound on a `realtime: true` deployment's probe connection. */
  realtimeProbeTimeoutMs: number;
  /** A side's unsent bytes above this pause reading from its peer (backpressure). */
  realtimeBufferHighBytes: number;
  /** Catalogue realtime models: the credit held ahead of each response (micro-dollars). */
  realtimeHoldMicros: number;
  /** How often realtime sessions cut by a crash are looked for and reconciled. */
  realtimeReconcileIntervalMs: number;
  /** Sign-in providers (auth/oauth/): each is offered only when its client is configured. */
  githubClientId?: string;
  githubClientSecret?: string;
  /** GitHub's web origin and API origin; tests point them at a local stand-in. */
  githubOauthUrl: string;
  githubApiUrl: string;
  googleClientId?: string;
  googleClientSecret?: string;
  /** Google's OpenID Connect issuer (discovery); tests point it at a local issuer. */
  googleIssuer: string;
  /** Any OpenID Connect issuer the operator names, shown on the login page as `oidcName`. */
  oidcIssuer?: string;
  oidcClientId?: string;
  oidcClientSecret?: string;
  oidcName: string;
}

/** Common RunPod GPU types; an operator widens or narrows this with RUNPOD_ALLOWED_GPUS. */
export const DEFAULT_ALLOWED_GPUS = [
  "NVIDIA GeForce RTX 4090",
  "NVIDIA GeForce RTX 3090",
  "NVIDIA RTX A5000",
  "NVIDIA RTX A6000",
  "NVIDIA L4",
  "NVIDIA L40S",
  "NVIDIA A40",
  "NVIDIA A100 80GB PCIe",
  "NVIDIA H100 80GB HBM3",
] as const;

/** More processes than this only contend for the same cores and the same store file. */
const MAX_WORKERS = 64;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env): AppConfig {
  const read = new EnvReader(env);
  const workers = read.workers("WORKERS");
  const workerIndex = read.optionalInteger("WORKER_INDEX", 1, workers);
  const baseInstanceId = read.pattern(
    "INSTANCE_ID",
    "main",
    /^[A-Za-z0-9_.-]{1,64}$/,
    "letters, digits, _ . - (1-64)",
  );
  const config: AppConfig = {
    workers,
    workerIndex,
    port: read.integer("PORT", 3000, 0, 65535),
    host: read.string("HOST", "0.0.0.0"),
    dataDir: read.string("DATA_DIR", "./data"),
    // Each worker keeps its own read models, key-usage stream and realtime sessions, and a
    // restarted worker takes its predecessor's back.
    instanceId: workerIndex === undefined ? baseInstanceId : `${baseInstanceId}-${workerIndex}`,
    eventStoreConnectionString: read.optionalPattern(
      "EVENTSTORE_CONNECTION_STRING",
      /^(esdb|esdb\+discover|kurrentdb|kurrentdb\+discover|kurrent|kurrent\+discover):\/\/.+/,
      "an esdb://, esdb+discover://, kurrentdb:// or kurrentdb+discover:// connection string",
    ),
    eventStoreSync: read.oneOf("EVENT_STORE_SYNC", "normal", ["normal", "full"] as const),
    eventStoreWriter: read.oneOf("EVENT_STORE_WRITER", "thread", ["thread", "inline"] as const),
    adminApiKey: read.optionalSecret("ADMIN_API_KEY", 16),
    secretsKey: read.optionalSecret("SECRETS_KEY", 32),
    secretsKeyFile: read.optionalString("SECRETS_KEY_FILE"),
    logLevel: read.oneOf(
      "LOG_LEVEL",
      "info",
      ["debug", "info", "warn", "error", "silent"] as const,
    ),
    bodyLimitBytes: read.integer("BODY_LIMIT_BYTES", 10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    shutdownGraceMs: read.integer("SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    rateLimitPerMinute: read.integer("RATE_LIMIT_PER_MINUTE", 100, 1, 1_000_000),
    rateLimitPerKeyPerMinute: read.integer("RATE_LIMIT_PER_KEY_PER_MINUTE", 600, 1, 10_000_000),
    rateLimitPerAccountPerMinute: read.integer(
      "RATE_LIMIT_PER_ACCOUNT_PER_MINUTE",
      1200,
      1,
      10_000_000,
    ),
    loginFailuresBeforeDelay: read.integer("LOGIN_FAILURES_BEFORE_DELAY", 5, 1, 1000),
    trustProxy: read.trustProxy("TRUST_PROXY"),
    tlsCertFile: read.together("TLS_CERT_FILE", ["TLS_KEY_FILE"]),
    tlsKeyFile: read.together("TLS_KEY_FILE", ["TLS_CERT_FILE"]),
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
    modelGroupCooldownMs: read.integer("MODEL_GROUP_COOLDOWN_MS", 10_000, 0, 3_600_000),
    upstreamMaxResponseBytes: read.integer(
      "UPSTREAM_MAX_RESPONSE_BYTES",
      32 * 1024 * 1024,
      1024,
      1024 * 1024 * 1024,
    ),
    upstreamMaxFrameBytes: read.integer(
      "UPSTREAM_MAX_FRAME_BYTES",
      1024 * 1024,
      1024,
      64 * 1024 * 1024,
    ),
    upstreamIdleTimeoutMs: read.integer("UPSTREAM_IDLE_TIMEOUT_MS", 60_000, 1, 3_600_000),
    upstreamTotalTimeoutMs: read.integer("UPSTREAM_TOTAL_TIMEOUT_MS", 600_000, 1, 24 * 3_600_000),
    httpRequestTimeoutMs: read.integer("HTTP_REQUEST_TIMEOUT_MS", 60_000, 100, 3_600_000),
    httpHeadersTimeoutMs: read.integer("HTTP_HEADERS_TIMEOUT_MS", 10_000, 100, 600_000),
    httpKeepAliveTimeoutMs: read.integer("HTTP_KEEP_ALIVE_TIMEOUT_MS", 65_000, 100, 3_600_000),
    httpMaxConnections: read.integer("HTTP_MAX_CONNECTIONS", 10_000, 1, 1_000_000),
    streamStallTimeoutMs: read.integer("STREAM_STALL_TIMEOUT_MS", 60_000, 100, 3_600_000),
    maxConcurrentRequestsPerAccount: read.integer(
      "MAX_CONCURRENT_REQUESTS_PER_ACCOUNT",
      64,
      1,
      100_000,
    ),
    stripeSecretKey: read.optionalString("STRIPE_SECRET_KEY"),
    stripeWebhookSecret: read.optionalString("STRIPE_WEBHOOK_SECRET"),
    stripeApiBaseUrl: read.optionalPattern(
      "STRIPE_API_BASE_URL",
      /^https?:\/\/.+/,
      "an http(s) URL",
    ),
    publicBaseUrl: read.optionalBaseUrl("PUBLIC_BASE_URL"),
    artifactUrlTtlSeconds: read.integer("ARTIFACT_URL_TTL_S", 3600, 60, 7 * 24 * 3600),
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
    runpodAllowedGpus: read.list("RUNPOD_ALLOWED_GPUS", [...DEFAULT_ALLOWED_GPUS]),
    podMinPrepaidMinutes: read.integer("POD_MIN_PREPAID_MINUTES", 10, 1, 7 * 24 * 60),
    maxPodsPerAccount: read.integer("MAX_PODS_PER_ACCOUNT", 3, 0, 10_000),
    runpodTimeoutMs: read.integer("RUNPOD_TIMEOUT_MS", 30_000, 100, 600_000),
    runpodMaxRetries: read.integer("RUNPOD_MAX_RETRIES", 3, 0, 10),
    podPriceMultiplier: read.number("POD_PRICE_MULTIPLIER", 1.0, 0, 100),
    reconcileIntervalMs: read.integer("RECONCILE_INTERVAL_MS", 30_000, 100, 3_600_000),
    meteringIntervalMs: read.integer("METERING_INTERVAL_MS", 15_000, 100, 3_600_000),
    idleSweepIntervalMs: read.integer("IDLE_SWEEP_INTERVAL_MS", 30_000, 100, 3_600_000),
    coldStartWaitMs: read.integer("COLD_START_WAIT_MS", 180_000, 1_000, 3_600_000),
    generationSyncWaitMs: read.integer("GENERATION_SYNC_WAIT_MS", 30_000, 1000, 300_000),
    jobPollIntervalMs: read.integer("JOB_POLL_INTERVAL_MS", 2_000, 50, 600_000),
    chargeReconcileIntervalMs: read.integer(
      "CHARGE_RECONCILE_INTERVAL_MS",
      60_000,
      100,
      3_600_000,
    ),
    runpodLbUrl: read.pattern(
      "RUNPOD_LB_URL",
      "https://{endpointId}.api.runpod.ai",
      /^https?:\/\/.*\{endpointId\}/,
      "an http(s) URL template containing {endpointId}",
    ),
    realtimeMaxSessionS: read.integer("REALTIME_MAX_SESSION_S", 1800, 1, 24 * 3600),
    realtimeMaxMessageBytes: read.integer(
      "REALTIME_MAX_MESSAGE_BYTES",
      1024 * 1024,
      1024,
      64 * 1024 * 1024,
    ),
    realtimeIdleTimeoutMs: read.integer("REALTIME_IDLE_TIMEOUT_MS", 120_000, 100, 3_600_000),
    realtimeProbeTimeoutMs: read.integer("REALTIME_PROBE_TIMEOUT_MS", 5_000, 100, 120_000),
    realtimeBufferHighBytes: read.integer(
      "REALTIME_BUFFER_HIGH_BYTES",
      1024 * 1024,
      16 * 1024,
      256 * 1024 * 1024,
    ),
    realtimeHoldMicros: Math.round(read.number("REALTIME_HOLD_USD", 0.5, 0.000001, 1000) * 1e6),
    realtimeReconcileIntervalMs: read.integer(
      "REALTIME_RECONCILE_INTERVAL_MS",
      60_000,
      100,
      3_600_000,
    ),
    githubClientId: read.together("GITHUB_CLIENT_ID", ["GITHUB_CLIENT_SECRET"]),
    githubClientSecret: read.together("GITHUB_CLIENT_SECRET", ["GITHUB_CLIENT_ID"]),
    githubOauthUrl: read.secureUrl("GITHUB_OAUTH_URL", "https://github.com"),
    githubApiUrl: read.secureUrl("GITHUB_API_URL", "https://api.github.com"),
    googleClientId: read.together("GOOGLE_CLIENT_ID", ["GOOGLE_CLIENT_SECRET"]),
    googleClientSecret: read.together("GOOGLE_CLIENT_SECRET", ["GOOGLE_CLIENT_ID"]),
    googleIssuer: read.secureUrl("GOOGLE_ISSUER", "https://accounts.google.com"),
    oidcIssuer: read.optionalSecureUrl("OIDC_ISSUER", ["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"]),
    oidcClientId: read.together("OIDC_CLIENT_ID", ["OIDC_ISSUER", "OIDC_CLIENT_SECRET"]),
    oidcClientSecret: read.together("OIDC_CLIENT_SECRET", ["OIDC_ISSUER", "OIDC_CLIENT_ID"]),
    oidcName: read.pattern("OIDC_NAME", "Single sign-on", /^[^<>]{1,40}$/, "1-40 characters"),
  };
  return workerIndex === undefined ? config : withWorkerShareOfLimits(config);
}

/**
 * Whether this process runs the sweeps that work from the shared store: hold expiry, charge
 * reconciliation, pod metering, pod reconciliation and idle stops, and the job poller. Every
 * standalone instance does, and of a cluster only its first worker, so N workers do not read
 * the same rows and poll RunPod N times (their appends would be no-ops by expected revision
 * anyway). The supervisor restarts a first worker that dies, sweeps and all. Per-process work
 * (key-usage flushes, this worker's own realtime sessions) runs in every worker.
 */
export function runsSharedSweeps(config: Pick<AppConfig, "workerIndex">): boolean {
  return (config.workerIndex ?? 1) === 1;
}

/**
 * A cluster worker enforces its share of every budget kept in process memory, so the workers
 * together never allow more than one process would: the per-minute and login budgets unless
 * REDIS_URL shares them exactly, and always the per-account concurrency, which is only ever
 * counted in process. Clients spread over connections, and the kernel spreads connections
 * over workers; a client on one connection meets its budget on one worker's share.
 */
function withWorkerShareOfLimits(config: AppConfig): AppConfig {
  const share = (limit: number) => Math.max(1, Math.floor(limit / config.workers));
  const inMemory = config.redisUrl === undefined;
  return {
    ...config,
    rateLimitPerMinute: inMemory ? share(config.rateLimitPerMinute) : config.rateLimitPerMinute,
    rateLimitPerKeyPerMinute: inMemory
      ? share(config.rateLimitPerKeyPerMinute)
      : config.rateLimitPerKeyPerMinute,
    rateLimitPerAccountPerMinute: inMemory
      ? share(config.rateLimitPerAccountPerMinute)
      : config.rateLimitPerAccountPerMinute,
    loginFailuresBeforeDelay: inMemory
      ? share(config.loginFailuresBeforeDelay)
      : config.loginFailuresBeforeDelay,
    maxConcurrentRequestsPerAccount: share(config.maxConcurrentRequestsPerAccount),
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

  /** An http(s) origin with an optional path prefix; no credentials, query or fragment. */
  optionalBaseUrl(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (
      !url || !["http:", "https:"].includes(url.protocol) || url.username !== "" ||
      url.password !== "" || url.search !== "" || url.hash !== ""
    ) {
      throw new ConfigError(
        `${name} must be an http(s) URL without credentials, query or fragment, e.g. ` +
          `https://gateway.example.com (got "${redact(value)}")`,
      );
    }
    return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  }

  /** A setting that only works with its partners (a client id and its secret): all or none. */
  together(name: string, partners: string[]): string | undefined {
    const value = this.raw(name);
    const missing = partners.filter((partner) => this.raw(partner) === undefined);
    if (value !== undefined && missing.length > 0) {
      const verb = missing.length > 1 ? "are" : "is";
      throw new ConfigError(
        `${name} is set but ${missing.join(" and ")} ${verb} not; set all or none`,
      );
    }
    return value;
  }

  secureUrl(name: string, fallback: string): string {
    return this.optionalSecureUrl(name, []) ?? fallback;
  }

  /**
   * An identity provider's URL: https, or http only on loopback (a local test issuer), since
   * codes and tokens travel over it. No credentials, query or fragment.
   */
  optionalSecureUrl(name: string, partners: string[]): string | undefined {
    const value = this.together(name, partners);
    if (value === undefined) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url?.hostname ?? "");
    if (
      !url || !(url.protocol === "https:" || (url.protocol === "http:" && loopback)) ||
      url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== ""
    ) {
      throw new ConfigError(
        `${name} must be an https URL (http only on 127.0.0.1, localhost or [::1]) without ` +
          `credentials, query or fragment (got "${redact(value)}")`,
      );
    }
    return value;
  }

  optionalInteger(name: string, min: number, max: number): number | undefined {
    return this.raw(name) === undefined ? undefined : this.integer(name, min, min, max);
  }

  /** WORKERS: `auto` (one per core the process may use) or a count. */
  workers(name: string): number {
    const value = this.raw(name);
    if (value === undefined || value.toLowerCase() === "auto") return availableParallelism();
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_WORKERS) {
      throw new ConfigError(
        `${name} must be auto (one per core) or an integer from 1 to ${MAX_WORKERS} (got "${value}")`,
      );
    }
    return Number(value);
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

  /** A comma-separated list; empty entries are dropped. */
  list(name: string, fallback: string[]): string[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const items = value.split(",").map((item) => item.trim()).filter((item) => item !== "");
    if (items.length === 0) throw new ConfigError(`${name} must list at least one value`);
    return items;
  }

  /**
   * TRUST_PROXY: `false`, a hop count, or proxy addresses/CIDRs. `true` would believe the
   * left-most X-Forwarded-For entry, which the client writes, so it is refused.
   */
  trustProxy(name: string): false | number | string[] {
    const value = this.raw(name);
    if (value === undefined || ["false", "0", "no"].includes(value.toLowerCase())) return false;
    if (["true", "yes"].includes(value.toLowerCase())) {
      throw new ConfigError(
        `${name}=true would trust the client-written left-most X-Forwarded-For entry, so any ` +
          `client could pick its own address; set the number of proxies in front of the ` +
          `gateway (e.g. 1) or their addresses/CIDRs (e.g. 10.0.0.0/8,127.0.0.1)`,
      );
    }
    if (/^\d+$/.test(value)) {
      const hops = Number(value);
      if (hops > 16) {
        throw new ConfigError(`${name} hop count must be from 0 to 16 (got "${value}")`);
      }
      return hops;
    }
    const entries = value.split(",").map((item) => item.trim()).filter((item) => item !== "");
    for (const entry of entries) {
      if (!isAddressOrCidr(entry)) {
        throw new ConfigError(
          `${name} must be false, a hop count or a comma-separated list of IP addresses/CIDRs ` +
            `(got "${entry}")`,
        );
      }
    }
    return entries;
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

function isAddressOrCidr(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split("/");
  if (rest.length > 0) return false;
  const version = isIP(address);
  if (version === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (version === 4 ? 32 : 128);
}

/** Config errors may quote values; never quote anything that looks like a credential. */
function redact(value: string): string {
  return value.replace(/\/\/[^@/]*@/, "//***@");
}

/** Nest injection token for AppConfig. */
export const APP_CONFIG = Symbol("APP_CONFIG");
