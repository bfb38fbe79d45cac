import OpenAI from "openai";
import { createAccountWithKey, createApiKey, signUp } from "../support/accounts.ts";
import { sleep } from "../../src/common/sleep.ts";
import { freePort } from "../support/free-port.ts";
import {
  REDIS_SKIP_REASON,
  redisServerAvailable,
  startRedisServer,
} from "../support/redis-server.ts";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";

const PASSWORD = "correct horse battery staple";

function report(figures: Record<string, unknown>): void {
  console.log(JSON.stringify({ scenario: 9, ...figures }));
}

function login(app: TestApp, email: string, password: string, forwardedFor?: string) {
  return api(app.url, "POST", "/api/auth/login", {
    body: { email, password },
    headers: forwardedFor ? { "x-forwarded-for": forwardedFor } : {},
  });
}

describe("scenario 9: rate limits that a client cannot rotate around", () => {
  it("behind one proxy (TRUST_PROXY=1), rotating the client-written X-Forwarded-For part is limited like one address, login included", async () => {
    // RATE_LIMIT_PER_MINUTE=20 gives the sign-up/login group 2 per minute per client.
    const app = await startTestApp({ env: { RATE_LIMIT_PER_MINUTE: "20", TRUST_PROXY: "1" } });
    try {
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 10; attempt++) {
        // The proxy appends the address it saw (203.0.113.7); the left part is the client's.
        const response = await login(
          app,
          `victim-${attempt}@example.com`,
          "guess",
          `198.51.100.${attempt}, 203.0.113.7`,
        );
        statuses.push(response.status);
      }
      const guessesAdmitted = statuses.filter((status) => status === 401).length;
      report({ case: "xff_rotation", attempts: statuses.length, guessesAdmitted });
      expect(guessesAdmitted).toBe(2);
      expect(statuses.slice(2).every((status) => status === 429)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it("counts IPv6 clients per /64: rotating the interface id is limited, another /64 is not", async () => {
    const app = await startTestApp({ env: { RATE_LIMIT_PER_MINUTE: "5", TRUST_PROXY: "1" } });
    try {
      // 127.0.0.1 is the one trusted hop, so the X-Forwarded-For entry is the client address.
      const from = (address: string) =>
        api(app.url, "GET", "/api/keys", { headers: { "x-forwarded-for": address } });
      const statuses: number[] = [];
      for (let host = 1; host <= 20; host++) {
        statuses.push((await from(`2001:db8:1:2:${host.toString(16)}:0:0:1`)).status);
      }
      const admitted = statuses.filter((status) => status !== 429).length;
      const otherPrefix = await from("2001:db8:1:3::1");
      report({ case: "ipv6_rotation", addresses: 20, admitted });
      expect(admitted).toBe(5);
      expect(otherPrefix.status).toBe(401);
    } finally {
      await app.close();
    }
  });

  describe("budgets per credential and per account", () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp({
        env: {
          RATE_LIMIT_PER_MINUTE: "100000",
          RATE_LIMIT_PER_KEY_PER_MINUTE: "6",
          RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: "10",
          TRUST_PROXY: "1",
        },
      });
    });
    afterAll(async () => await app.close());

    it("limits one API key however many addresses drive it", async () => {
      const { key } = await createAccountWithKey(app.url, "stolen-key@example.com");
      let admitted = 0;
      let refusal: InstanceType<typeof OpenAI.RateLimitError> | undefined;
      for (let request = 0; request < 12; request++) {
        const client = new OpenAI({
          apiKey: key,
          baseURL: `${app.url}/v1`,
          maxRetries: 0,
          defaultHeaders: { "x-forwarded-for": `192.0.2.${request + 1}` },
        });
        try {
          await client.models.list();
          admitted++;
        } catch (error) {
          if (!(error instanceof OpenAI.RateLimitError)) throw error;
          refusal = error;
        }
      }
      report({ case: "per_key", requests: 12, addresses: 12, admitted });
      expect(admitted).toBe(6);
      expect(refusal?.status).toBe(429);
      expect(refusal?.code).toBe("rate_limit_exceeded");
      expect(refusal?.message).toContain("this API key");
      expect(Number(refusal?.headers?.get("retry-after"))).toBeGreaterThanOrEqual(1);
    });

    it("limits an account across all its keys and sessions together", async () => {
      const { accountId, key } = await createAccountWithKey(app.url, "many-keys@example.com");
      const keys = [
        key,
        ...await Promise.all([1, 2, 3].map(() => createApiKey(app.url, accountId))),
      ];
      const statuses: number[] = [];
      // 4 keys × 4 requests: each key stays under its own 6, the account's 10 does not.
      for (let round = 0; round < 4; round++) {
        for (const each of keys) {
          statuses.push((await api(app.url, "GET", "/api/keys", { token: each })).status);
        }
      }
      const admitted = statuses.filter((status) => status === 200).length;
      const limited = await api(app.url, "GET", "/api/keys", { token: keys[0] });
      report({ case: "per_account", keys: keys.length, requests: statuses.length, admitted });
      expect(admitted).toBe(10);
      expect(limited.status).toBe(429);
      expect(limited.body.error.message).toContain("this account");
    });

    it("gives a session its own budget, like a key", async () => {
      const { token } = await signUp(app.url, "session-budget@example.com", PASSWORD);
      const statuses: number[] = [];
      for (let request = 0; request < 8; request++) {
        statuses.push((await api(app.url, "GET", "/api/keys", { token })).status);
      }
      report({
        case: "per_session",
        requests: 8,
        admitted: statuses.filter((s) => s === 200).length,
      });
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    });
  });

  it("delays logins to one email from any address: 1 s, then 2 s after the free failures; a success resets", async () => {
    const app = await startTestApp({
      env: { RATE_LIMIT_PER_MINUTE: "100000", LOGIN_FAILURES_BEFORE_DELAY: "3", TRUST_PROXY: "1" },
    });
    try {
      const email = "target@example.com";
      await signUp(app.url, email, PASSWORD);
      let address = 0;
      const guess = (password = "wrong-guess") =>
        login(app, email, password, `198.51.100.${++address % 250}, 203.0.113.${address % 250}`);

      // A burst of 40 guesses from 40 addresses: only the free failures are even checked.
      const started = performance.now();
      const burst = [];
      for (let attempt = 0; attempt < 40; attempt++) burst.push(await guess());
      const burstSeconds = (performance.now() - started) / 1000;
      const checked = burst.filter((response) => response.status === 401).length;
      const throttled = burst.find((response) => response.status === 429)!;
      expect(checked).toBe(3);
      expect(throttled.body).toEqual({
        error: {
          message: expect.stringContaining("Too many failed logins"),
          type: "rate_limit_error",
          param: "email",
          code: "login_throttled",
        },
      });
      const firstWait = Number(throttled.headers.get("retry-after"));
      expect(firstWait).toBe(1);

      await sleep(1_100);
      expect((await guess()).status).toBe(401);
      const second = await guess();
      expect(second.status).toBe(429);
      const secondWait = Number(second.headers.get("retry-after"));
      expect(secondWait).toBe(2);
      // Even the right password waits its turn: the delay comes before any password check.
      expect((await guess(PASSWORD)).status).toBe(429);

      await sleep(2_100);
      expect((await guess(PASSWORD)).status).toBe(200);
      // The success reset the email: the free failures are back.
      expect((await guess()).status).toBe(401);
      report({
        case: "login_delays",
        burstGuesses: burst.length,
        burstSeconds: Number(burstSeconds.toFixed(2)),
        guessesChecked: checked,
        retryAfterSeconds: [firstWait, secondWait],
      });
    } finally {
      await app.close();
    }
  });

  it("keeps the login budget when Redis is unreachable (counts in memory instead of failing open)", async () => {
    const deadPort = await freePort();
    const app = await startTestApp({
      env: {
        REDIS_URL: `redis://127.0.0.1:${deadPort}`,
        RATE_LIMIT_PER_MINUTE: "20",
        LOGIN_FAILURES_BEFORE_DELAY: "2",
      },
    });
    try {
      const statuses: number[] = [];
      const started = performance.now();
      for (let attempt = 0; attempt < 6; attempt++) {
        statuses.push((await login(app, `nobody-${attempt}@example.com`, "guess")).status);
      }
      const seconds = (performance.now() - started) / 1000;
      report({
        case: "redis_unreachable",
        attempts: 6,
        statuses,
        seconds: Number(seconds.toFixed(2)),
      });
      expect(statuses).toEqual([401, 401, 429, 429, 429, 429]);
    } finally {
      await app.close();
    }
  });

  const withRedis = redisServerAvailable() ? it : it.skip;
  if (!redisServerAvailable()) console.log(REDIS_SKIP_REASON);
  withRedis("keeps limiting when a real Redis stops mid-run", async () => {
    const redis = await startRedisServer();
    const app = await startTestApp({
      env: { REDIS_URL: redis.url, RATE_LIMIT_PER_MINUTE: "40", LOGIN_FAILURES_BEFORE_DELAY: "50" },
    });
    try {
      // The auth group's budget is 4 a minute: 2 spent while Redis counts, then Redis goes.
      const before = [];
      for (let attempt = 0; attempt < 2; attempt++) {
        before.push((await login(app, "stop@example.com", "guess")).status);
      }
      expect((await redis.client.keys("modelpilot:ratelimit:auth:*")).length).toBe(1);
      await redis.stop();
      const after = [];
      for (let attempt = 0; attempt < 8; attempt++) {
        after.push((await login(app, "stop@example.com", "guess")).status);
      }
      const admittedAfterStop = after.filter((status) => status === 401).length;
      report({ case: "redis_stopped", before, after, admittedAfterStop });
      expect(before).toEqual([401, 401]);
      // Memory starts its own window: at most one fresh budget, never unlimited.
      expect(admittedAfterStop).toBeLessThanOrEqual(4);
      expect(after.slice(-4).every((status) => status === 429)).toBe(true);
    } finally {
      await app.close();
      await redis.stop();
    }
  });
});
