import { ConfigError, loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("has working defaults for a fresh machine", () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.host).toBe("0.0.0.0");
    expect(config.dataDir).toBe("./data");
    expect(config.eventStoreSync).toBe("normal");
    expect(config.eventStoreWriter).toBe("thread");
    expect(config.eventStoreConnectionString).toBeUndefined();
    expect(config.adminApiKey).toBeUndefined();
    expect(config.rateLimitPerMinute).toBe(100);
    expect(config.runpodRestUrl).toBe("https://api.runpod.io/v2");
    expect(config.runpodApiUrl).toBe("https://api.runpod.ai/v2");
    expect(config.runpodPodProxyUrl).toBe("https://{podId}-{port}.proxy.runpod.net");
    expect(config.runpodTimeoutMs).toBe(30_000);
    expect(config.runpodMaxRetries).toBe(3);
    expect(config.podPriceMultiplier).toBe(1);
  });

  it("reads typed values", () => {
    const config = loadConfig({
      PORT: "8080",
      EVENT_STORE_SYNC: "full",
      EVENT_STORE_WRITER: "inline",
      EVENTSTORE_CONNECTION_STRING: "esdb+discover://node1:2113,node2:2113?tls=false",
      TRUST_PROXY: "1",
      POD_PRICE_MULTIPLIER: "1.25",
      RUNPOD_MAX_RETRIES: "0",
    });
    expect(config.port).toBe(8080);
    expect(config.eventStoreSync).toBe("full");
    expect(config.eventStoreWriter).toBe("inline");
    expect(config.eventStoreConnectionString).toContain("esdb+discover://");
    expect(config.trustProxy).toBe(1);
    expect(config.podPriceMultiplier).toBe(1.25);
    expect(config.runpodMaxRetries).toBe(0);
  });

  it.each([
    [{ PORT: "70000" }, "PORT must be an integer from 0 to 65535"],
    [{ PORT: "3.5" }, "PORT must be an integer"],
    [{ EVENT_STORE_SYNC: "sometimes" }, "EVENT_STORE_SYNC must be one of normal, full"],
    [{ EVENT_STORE_WRITER: "async" }, "EVENT_STORE_WRITER must be one of thread, inline"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL must be one of debug, info, warn, error, silent"],
    [
      { EVENTSTORE_CONNECTION_STRING: "http://localhost:2113" },
      "EVENTSTORE_CONNECTION_STRING must be an esdb://",
    ],
    [{ ADMIN_API_KEY: "short" }, "ADMIN_API_KEY must be at least 16 characters"],
    [{ SECRETS_KEY: "too-short-for-a-key" }, "SECRETS_KEY must be at least 32 characters"],
    [{ TRUST_PROXY: "maybe" }, "TRUST_PROXY must be false, a hop count or a comma-separated list"],
    [{ TRUST_PROXY: "true" }, "TRUST_PROXY=true would trust the client-written left-most"],
    [{ TRUST_PROXY: "10.0.0.0/33" }, "TRUST_PROXY must be false, a hop count"],
    [{ RUNPOD_ALLOWED_GPUS: " , " }, "RUNPOD_ALLOWED_GPUS must list at least one value"],
    [
      { RUNPOD_POD_PROXY_URL: "https://proxy.example/{podId}" },
      "RUNPOD_POD_PROXY_URL must be an http(s) URL template containing {podId} and {port}",
    ],
    [{ RUNPOD_TIMEOUT_MS: "5" }, "RUNPOD_TIMEOUT_MS must be an integer from 100 to 600000"],
    [{ REDIS_URL: "localhost:6379" }, "REDIS_URL must be a redis:// or rediss:// URL"],
  ])("refuses %j with a message naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("reads TRUST_PROXY as a hop count or a list of proxy addresses and CIDRs", () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: "false" }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: "2" }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: "10.0.0.0/8, 127.0.0.1,::1,fd00::/8" }).trustProxy)
      .toEqual(["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"]);
  });

  it("reads PUBLIC_BASE_URL as an origin with an optional prefix, unset by default", () => {
    expect(loadConfig({}).publicBaseUrl).toBeUndefined();
    expect(loadConfig({ PUBLIC_BASE_URL: "https://gw.example.com/" }).publicBaseUrl)
      .toBe("https://gw.example.com");
    expect(loadConfig({ PUBLIC_BASE_URL: "http://gw.example.com:8080/api-gw" }).publicBaseUrl)
      .toBe("http://gw.example.com:8080/api-gw");
    for (
      const bad of ["gw.example.com", "ftp://gw.example.com", "https://u:p@gw", "https://gw/?a=1"]
    ) {
      expect(() => loadConfig({ PUBLIC_BASE_URL: bad })).toThrow(/PUBLIC_BASE_URL must be/);
    }
    expect(() => loadConfig({ PUBLIC_BASE_URL: "https://user:secret@gw" })).not.toThrow(/secret/);
    expect(loadConfig({}).artifactUrlTtlSeconds).toBe(3600);
    expect(() => loadConfig({ ARTIFACT_URL_TTL_S: "0" })).toThrow(/ARTIFACT_URL_TTL_S must be/);
  });

  it("never quotes credentials embedded in a bad URL", () => {
    expect(() => loadConfig({ EVENTSTORE_CONNECTION_STRING: "http://admin:changeit@host:2113" }))
      .toThrow(/\/\/\*\*\*@host/);
  });
});
