import { DEFAULT_RUNPOD_CONFIG, runpodConfigFromEnv } from "../../src/runpod/runpod.config.ts";

describe("runpodConfigFromEnv", () => {
  it("defaults to RunPod's hosts", () => {
    expect(runpodConfigFromEnv({})).toEqual({ ...DEFAULT_RUNPOD_CONFIG, apiKey: undefined });
    expect(DEFAULT_RUNPOD_CONFIG).toMatchObject({
      restUrl: "https://api.runpod.io/v2",
      apiUrl: "https://api.runpod.ai/v2",
      podProxyTemplate: "https://{podId}-{port}.proxy.runpod.net",
    });
  });

  it("reads every variable", () => {
    expect(runpodConfigFromEnv({
      RUNPOD_REST_URL: "http://127.0.0.1:8787/rest/v2/",
      RUNPOD_API_URL: "http://127.0.0.1:8787/serverless/v2",
      RUNPOD_POD_PROXY_URL: "http://127.0.0.1:8787/proxy/{podId}-{port}",
      RUNPOD_API_KEY: "k",
      RUNPOD_TIMEOUT_MS: "5000",
      RUNPOD_MAX_RETRIES: "0",
    })).toEqual({
      restUrl: "http://127.0.0.1:8787/rest/v2",
      apiUrl: "http://127.0.0.1:8787/serverless/v2",
      podProxyTemplate: "http://127.0.0.1:8787/proxy/{podId}-{port}",
      apiKey: "k",
      requestTimeoutMs: 5000,
      maxRetries: 0,
    });
  });

  it("names every bad variable", () => {
    expect(() =>
      runpodConfigFromEnv({
        RUNPOD_REST_URL: "ftp://x",
        RUNPOD_POD_PROXY_URL: "https://proxy.example",
        RUNPOD_MAX_RETRIES: "many",
      })
    ).toThrow(/RUNPOD_REST_URL.*RUNPOD_POD_PROXY_URL.*RUNPOD_MAX_RETRIES/);
  });
});
