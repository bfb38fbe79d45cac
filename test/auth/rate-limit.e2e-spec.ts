import { api, startTestApp, type TestApp } from "../support/test-app.ts";

const RESET_FORMAT = /^(\d+m)?\d+s$/;

describe("rate limits per client IP", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { RATE_LIMIT_PER_MINUTE: "20", TRUST_PROXY: "false" } });
  });

  afterAll(async () => {
    await app.close();
  });

  it("counts every limited response down in the headers, then answers 429 in the envelope", async () => {
    for (let index = 1; index <= 20; index++) {
      const response = await api(app.url, "GET", "/api/keys");
      expect(response.status).toBe(401);
      expect(response.headers.get("x-ratelimit-limit-requests")).toBe("20");
      expect(response.headers.get("x-ratelimit-remaining-requests")).toBe(String(20 - index));
      expect(response.headers.get("x-ratelimit-reset-requests")).toMatch(RESET_FORMAT);
    }
    // X-Forwarded-For is not believed without TRUST_PROXY: still the same client.
    const limited = await api(app.url, "GET", "/api/keys", {
      headers: { "x-forwarded-for": "203.0.113.9" },
    });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({
      error: {
        message: expect.stringContaining("20 requests per minute"),
        type: "rate_limit_error",
        param: null,
        code: "rate_limit_exceeded",
      },
    });
    const retryAfter = limited.headers.get("retry-after");
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    expect(limited.headers.get("x-ratelimit-limit-requests")).toBe("20");
    expect(limited.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(limited.headers.get("x-ratelimit-reset-requests")).toMatch(RESET_FORMAT);
  });

  it("never limits health and metrics", async () => {
    for (let index = 0; index < 25; index++) {
      const response = await api(app.url, "GET", "/health");
      expect(response.status).toBe(200);
      expect(response.headers.get("x-ratelimit-limit-requests")).toBeNull();
    }
  });

  it("gives the sign-up and login group its own, smaller budget", async () => {
    const statuses = [];
    for (let index = 0; index < 3; index++) {
      const response = await api(app.url, "POST", "/api/auth/login", {
        body: { email: "nobody@example.com", password: "whatever-password" },
      });
      statuses.push(response.status);
      expect(response.headers.get("x-ratelimit-limit-requests")).toBe("2");
    }
    expect(statuses).toEqual([401, 401, 429]);
  });
});

describe("rate limits behind a trusted proxy", () => {
  const keys = (app: TestApp, forwardedFor: string) =>
    api(app.url, "GET", "/api/keys", { headers: { "x-forwarded-for": forwardedFor } });

  it("with TRUST_PROXY=1 keys on the hop our proxy appended, not on what the client wrote", async () => {
    const app = await startTestApp({ env: { RATE_LIMIT_PER_MINUTE: "3", TRUST_PROXY: "1" } });
    try {
      // The client writes the left part; the one proxy in front of us appends the real address.
      const statuses = [];
      for (let index = 0; index < 4; index++) {
        statuses.push((await keys(app, `198.51.100.${index}, 203.0.113.7`)).status);
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
      const other = await keys(app, "198.51.100.0, 203.0.113.8");
      expect(other.status).toBe(401);
      expect(other.headers.get("x-ratelimit-remaining-requests")).toBe("2");
    } finally {
      await app.close();
    }
  });

  it("with a CIDR list skips only hops from trusted addresses", async () => {
    const app = await startTestApp({
      env: { RATE_LIMIT_PER_MINUTE: "3", TRUST_PROXY: "127.0.0.1,10.0.0.0/8" },
    });
    try {
      // 10.1.2.3 is a trusted proxy, so the hop it forwarded for is the client.
      for (let index = 0; index < 3; index++) {
        expect((await keys(app, "198.51.100.1, 10.1.2.3")).status).toBe(401);
      }
      expect((await keys(app, "198.51.100.1, 10.1.2.3")).status).toBe(429);
      expect((await keys(app, "198.51.100.2, 10.1.2.3")).status).toBe(401);
      // 203.0.113.7 is not trusted: whatever it claims to forward for, it is the client.
      const statuses = [];
      for (let index = 0; index < 4; index++) {
        statuses.push((await keys(app, `192.0.2.${index}, 203.0.113.7`)).status);
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await app.close();
    }
  });
});
