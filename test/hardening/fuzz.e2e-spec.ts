import { Buffer } from "node:buffer";
import { Agent, request } from "node:http";
import { routeTable } from "../../src/app.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { KeyUsageTracker } from "../../src/auth/key-usage.tracker.ts";
import { UsageRecorder } from "../../src/inference/usage-recorder.ts";
import { grantUsd, randomEmail, signUp } from "../support/accounts.ts";
import { freePort } from "../support/free-port.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";
import { deepJson, deepObject, isEnvelope, parseJson } from "../support/raw-http.ts";

/**
 * Every route the application registers (taken from the app itself, so a new route is fuzzed
 * without anyone adding it here) gets malformed bodies, hostile path parameters and odd query
 * values, with and without each kind of credential. Nothing here is a valid request, so
 * nothing may cost money, start a pod or append an event: the suite asserts no 5xx, the OpenAI
 * envelope on every 4xx, an unchanged event store head, and a keep-alive connection that
 * still answers afterwards.
 */

interface Probe {
  method: string;
  path: string;
  credential: CredentialName;
  contentType?: string;
  body?: string;
  headers?: Record<string, string>;
  kind: string;
  /** Sent with Transfer-Encoding: chunked, in two writes, instead of a Content-Length. */
  chunked?: boolean;
}

type CredentialName = "none" | "admin" | "session" | "key";

interface Outcome {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A malformed request is answered in milliseconds; one still unanswered after this is hung. */
const REQUEST_DEADLINE_MS = 3_000;
/** The run stops sending after this (it takes about 25 s here), so the summary always prints. */
const BUDGET_MS = 120_000;
const CONCURRENCY = 4;

/** Values that replace a path parameter (raw, already as they go on the wire). */
const PATH_VALUES = [
  "x",
  "a".repeat(1000),
  "%E0%A4%A",
  "%",
  "..",
  "%2e%2e",
  "%2F..%2Fadmin",
  "%C3%A9t%C3%A9",
  "%F0%9F%92%A9",
  "%00",
  "%27%22%3C%3E",
  "-1",
  "99999999999999999999999",
  "__proto__",
];

const QUERIES = [
  "limit=1&limit=2",
  "limit=99999999999999999999",
  "limit=-1",
  "limit=1e3",
  "before=a&before=b",
  `before=${"b".repeat(5000)}`,
  "after=99999999999999999999",
  "after=9223372036854775808",
  "after=a&after=b",
  "from=2020-W01",
  "from=2020-100",
  "from=9999999999999999999",
  "to=not-a-date",
  "at=2020-W01",
  "at=+275760-09-13T00:00:00.001Z",
  "at=a&at=b",
  `cursor=${"c".repeat(5000)}`,
  "status=a&status=b",
  "kind=a&kind=b",
  "type=a&type=b",
  "stream_prefix=a&stream_prefix=b",
  "direction=sideways",
  "group_by=model&group_by=day",
  "%E0%A4%A=1",
  "a=%E0%A4%A",
  "__proto__=1&constructor=2",
];

/** Hostile headers; an `authorization` here replaces the probe's credential. */
const HEADERS: Array<Record<string, string>> = [
  { authorization: `Bearer ${"k".repeat(10_000)}` },
  { authorization: "Basic Zm9vOmJhcg==" },
  { authorization: "Bearer" },
  { authorization: "bearer sk-nonsense nonsense" },
  { "idempotency-key": "i".repeat(300) },
  { "x-request-id": "../../etc/passwd" },
  { accept: "text/event-stream" },
  { "content-encoding": "gzip", "content-type": "application/json" },
  { "stripe-signature": "t=1,v1=zz", "content-type": "application/json" },
];

/** Bodies that are malformed whatever the route expects. */
const RAW_BODIES: Array<[kind: string, contentType: string | undefined, body: string]> = [
  ["invalid json", "application/json", "{not json"],
  ["empty json", "application/json", ""],
  ["json null", "application/json", "null"],
  ["json array", "application/json", "[]"],
  ["array of objects", "application/json", "[{}]"],
  ["json string", "application/json", '"text"'],
  ["json number", "application/json", "123"],
  ["deep array", "application/json", deepJson(20_000)],
  ["deep object", "application/json", deepObject(100)],
  ["proto key", "application/json", '{"__proto__":{"polluted":true}}'],
  ["constructor key", "application/json", '{"constructor":{"prototype":{"polluted":true}}}'],
  ["unknown field", "application/json", '{"zzz_fuzz_unknown":1}'],
  ["text/plain", "text/plain", "hello"],
  ["form", "application/x-www-form-urlencoded", "a=1&a=2&__proto__=x"],
  ["xml", "application/xml", "<a/>"],
  ["utf-16 json", "application/json; charset=utf-16", "{}"],
  ["no content type", undefined, "{}"],
];

/** One known field with a hostile value: never a whole valid request. */
const FIELDS = [
  "model",
  "messages",
  "prompt",
  "input",
  "name",
  "permissions",
  "email",
  "password",
  "amount_usd",
  "provider",
  "gpu_type_id",
  "base_url",
];
/**
 * OpenAI routes pass unknown fields through, so they also get a model that exists nowhere (the
 * worst a probe can reach is a 404) beside one hostile sampling field.
 */
const OPENAI_ROUTE = /\/(chat\/completions|completions|embeddings|responses)$/;
const MISSING_MODELS = ['"fuzz-missing-model"', JSON.stringify("m".repeat(300))];
const OPENAI_FIELDS = [
  "messages",
  "prompt",
  "input",
  "n",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "stream",
  "stream_options",
  "tools",
  "tool_choice",
  "response_format",
  "stop",
  "logit_bias",
];
const VALUES = [
  "null",
  "-1",
  "1e308",
  "9007199254740993",
  JSON.stringify("x".repeat(100_000)),
  "[]",
  '{"__proto__":{"polluted":true}}',
  "[[[[]]]]",
  "true",
  '"\\u0000"',
];

/**
 * Routes that take no input but the caller's session (log out, log out the other sessions): for
 * an account's own credentials a bare request, whatever its query, headers or empty-ish body, is
 * a valid request, so those get only bodies with fields (which must be refused); every other
 * credential gets the full set.
 */
const INPUTLESS_ROUTES = new Set([
  "POST /api/auth/logout",
  "POST /api/auth/sessions/revoke-others",
]);

/** Every concrete path for a route pattern, one per hostile parameter value. */
function pathsFor(pattern: string): string[] {
  if (!/[:*]/.test(pattern)) return [pattern];
  return PATH_VALUES.map((value) =>
    pattern.replace(/:[A-Za-z0-9_]+/g, value).replace(/\*$/, value)
  );
}

function withParams(pattern: string): string {
  return pattern.replace(/:[A-Za-z0-9_]+/g, "x").replace(/\*$/, "x");
}

describe("fuzzing every route with malformed input", () => {
  let app: TestApp;
  let agent: Agent;
  const credentials: Record<CredentialName, string | undefined> = {
    none: undefined,
    admin: TEST_ADMIN_KEY,
    session: undefined,
    key: undefined,
  };

  beforeAll(async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    app = await startTestApp({
      env: {
        RUNPOD_API_KEY: "fuzz-runpod-key",
        RUNPOD_REST_URL: dead,
        RUNPOD_API_URL: `${dead}/graphql`,
        RUNPOD_POD_PROXY_URL: `${dead}/{podId}/{port}`,
        RUNPOD_TIMEOUT_MS: "500",
        RUNPOD_MAX_RETRIES: "0",
        STRIPE_SECRET_KEY: "sk_test_fuzz",
        STRIPE_WEBHOOK_SECRET: "whsec_fuzz",
        STRIPE_API_BASE_URL: dead,
      },
    });
    const signedUp = await signUp(app.url, randomEmail("fuzz"), "fuzz password 123");
    credentials.session = signedUp.token;
    const key = await api(app.url, "POST", "/api/keys", {
      token: credentials.session,
      body: { name: "fuzz", permissions: ["read", "proxy", "manage"] },
    });
    if (key.status !== 201) throw new Error(`key: ${key.status} ${JSON.stringify(key.body)}`);
    credentials.key = key.body.key;
    // Credit, so a request that slipped through validation would reach billing and show.
    await grantUsd(app.url, signedUp.accountId, 5);
    agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  });

  afterAll(async () => {
    agent?.destroy();
    await app?.close();
  });

  function send(probe: Probe): Promise<Outcome | "hung" | "connection-error"> {
    const url = new URL(app.url);
    return new Promise((resolve) => {
      const headers: Record<string, string> = {};
      const token = credentials[probe.credential];
      if (token) headers.authorization = `Bearer ${token}`;
      const body = probe.body === undefined ? undefined : Buffer.from(probe.body);
      if (probe.contentType) headers["content-type"] = probe.contentType;
      Object.assign(headers, probe.headers);
      if (body && !probe.chunked) headers["content-length"] = String(body.length);
      const outgoing = request({
        host: url.hostname,
        port: url.port,
        method: probe.method,
        path: probe.path,
        headers,
        agent,
      }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          clearTimeout(timer);
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          });
        });
        response.on("error", () => resolve("connection-error"));
      });
      const timer = setTimeout(() => {
        outgoing.destroy();
        resolve("hung");
      }, REQUEST_DEADLINE_MS);
      outgoing.on("error", () => {
        clearTimeout(timer);
        resolve("connection-error");
      });
      if (body && probe.chunked) {
        outgoing.write(body.subarray(0, body.length >> 1));
        outgoing.end(body.subarray(body.length >> 1));
      } else {
        outgoing.end(body);
      }
    });
  }

  function probesFor(routes: readonly { method: string; url: string }[]): Probe[] {
    const probes: Probe[] = [];
    const all: CredentialName[] = ["none", "admin", "session", "key"];
    // Methods no route has, on every registered path.
    for (const path of new Set(routes.map((route) => withParams(route.url)))) {
      for (const method of ["PUT", "PATCH", "OPTIONS", "PROPFIND"]) {
        probes.push({ method, path, credential: "key", kind: "method" });
      }
    }
    for (const route of routes) {
      const method = route.method;
      const hasBody = method !== "GET" && method !== "HEAD" && method !== "OPTIONS";
      for (const credential of all) {
        const bareIsValid = INPUTLESS_ROUTES.has(`${method} ${route.url}`) &&
          (credential === "session" || credential === "key");
        const plain = withParams(route.url);
        if (bareIsValid) {
          for (const [kind, contentType, body] of RAW_BODIES) {
            if (/^\{./.test(body) && body !== "{}") {
              probes.push({ method, path: plain, credential, contentType, body, kind });
            }
          }
          probes.push({
            method,
            path: plain,
            credential,
            contentType: "application/json",
            body: JSON.stringify({ padding: "p".repeat(300 * 1024) }),
            kind: "large body",
          });
          continue;
        }
        for (const path of pathsFor(route.url)) {
          probes.push({ method, path, credential, kind: "path param" });
        }
        for (const query of QUERIES) {
          probes.push({ method, path: `${plain}?${query}`, credential, kind: "query" });
        }
        // A body where none is expected, large enough not to be read in one go.
        probes.push({
          method,
          path: plain,
          credential,
          contentType: "application/json",
          body: JSON.stringify({ padding: "p".repeat(300 * 1024) }),
          kind: "large body",
        });
        if (credential === "key" || credential === "admin") {
          for (const extra of HEADERS) {
            const body = extra["content-type"] ? '{"zzz_fuzz_unknown":1}' : undefined;
            probes.push({ method, path: plain, credential, headers: extra, body, kind: "header" });
          }
        }
        if (!hasBody) continue;
        for (const [kind, contentType, body] of RAW_BODIES) {
          probes.push({ method, path: plain, credential, contentType, body, kind });
        }
        probes.push({
          method,
          path: plain,
          credential,
          contentType: "application/json",
          body: deepJson(5000),
          chunked: true,
          kind: "chunked deep body",
        });
        if (credential === "none") continue;
        for (const field of FIELDS) {
          for (const value of VALUES) {
            probes.push({
              method,
              path: plain,
              credential,
              contentType: "application/json",
              body: `{"${field}":${value}}`,
              kind: `field ${field}`,
            });
          }
        }
        if (credential !== "key" || !OPENAI_ROUTE.test(route.url)) continue;
        for (const model of MISSING_MODELS) {
          for (const field of OPENAI_FIELDS) {
            for (const value of VALUES) {
              probes.push({
                method,
                path: plain,
                credential,
                contentType: "application/json",
                body: `{"model":${model},"${field}":${value}}`,
                kind: `openai ${field}`,
              });
            }
          }
        }
      }
    }
    return probes;
  }

  it(
    "answers every malformed request with a 4xx envelope, appends nothing and keeps the connection usable",
    async () => {
      const started = performance.now();
      const routes = routeTable(app.app).filter((route) => route.method !== "HEAD");
      expect(routes.length).toBeGreaterThan(20);
      const store = app.app.get<EventStore>(EVENT_STORE);
      await app.app.get(KeyUsageTracker).flush();
      const headBefore = await store.headPosition();

      const probes = probesFor(routes);
      const failures: string[] = [];
      let fiveXX = 0;
      let nonEnvelope = 0;
      let hung = 0;
      let connectionErrors = 0;
      const statuses: Record<number, number> = {};
      let acceptedWrites = 0;
      let next = 0;
      const worker = async () => {
        while (next < probes.length && performance.now() - started < BUDGET_MS) {
          const probe = probes[next++];
          const outcome = await send(probe);
          const label = `${probe.credential} ${probe.method} ${
            probe.path.slice(0, 120)
          } [${probe.kind}]`;
          if (outcome === "hung") {
            hung++;
            failures.push(`hung: ${label}`);
            continue;
          }
          if (outcome === "connection-error") {
            connectionErrors++;
            failures.push(`connection error: ${label}`);
            continue;
          }
          statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
          // A write that succeeds took a malformed request for a valid one.
          if (outcome.status < 300 && probe.method !== "GET") {
            acceptedWrites++;
            failures.push(`accepted ${outcome.status}: ${label} ${outcome.body.slice(0, 200)}`);
          }
          if (outcome.status >= 500) {
            fiveXX++;
            failures.push(`${outcome.status}: ${label} ${outcome.body.slice(0, 200)}`);
          } else if (outcome.status >= 400 && !isEnvelope(parseJson(outcome.body))) {
            nonEnvelope++;
            failures.push(
              `not an envelope ${outcome.status}: ${label} ${outcome.body.slice(0, 200)}`,
            );
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));

      // Whatever was left on the keep-alive sockets, a valid request still gets its answer.
      const health = await send({
        method: "GET",
        path: "/health",
        credential: "none",
        kind: "after",
      });
      const stillUsable = health !== "hung" && health !== "connection-error" &&
        health.status === 200;
      // Inference events are written in batches; anything a probe caused is in the store now.
      await app.app.get(UsageRecorder).flush();
      await app.app.get(KeyUsageTracker).flush();
      const appended = await store.readAll({ from: headBefore, maxCount: 10_000 });
      // A key that authenticated is recorded as used (one batched event per interval), however
      // malformed the request was: that is bookkeeping, not an effect of the input.
      const keyUsage = appended.filter((event) => event.stream.startsWith("keyusage-"));
      const effects = appended.filter((event) => !event.stream.startsWith("keyusage-"));
      const summary = {
        routes: routes.length,
        requests: next,
        unsent: probes.length - next,
        fiveXX,
        nonEnvelope,
        appendedEvents: effects.length,
        appendedTypes: [...new Set(effects.map((event) => event.type))],
        keyUsageEvents: keyUsage.length,
        hungConnections: hung,
        connectionErrors,
        stillUsable,
        acceptedWrites,
        statuses,
        seconds: Math.round((performance.now() - started) / 100) / 10,
      };
      console.log(JSON.stringify(summary));
      if (failures.length > 0) console.log(failures.slice(0, 60).join("\n"));
      expect(summary).toMatchObject({
        fiveXX: 0,
        nonEnvelope: 0,
        appendedEvents: 0,
        hungConnections: 0,
        connectionErrors: 0,
        unsent: 0,
        acceptedWrites: 0,
        stillUsable: true,
      });
      expect(failures.slice(0, 20)).toEqual([]);
    },
    BUDGET_MS + 50_000,
  );
});
