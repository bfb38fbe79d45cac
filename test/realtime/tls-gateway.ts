import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";
import { fetchTrusting } from "../support/https-fetch.ts";
import { connectRealtime, type RealtimeTestClient } from "../support/realtime-client.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import { createTestCertificates, type TestCertificates } from "../support/test-ca.ts";
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";
import {
  type RealtimeUpstream,
  startRealtimeUpstream,
} from "../support/upstreams/realtime-upstream.ts";

/**
 * The set-up the SDK and load specs share: a test CA, the gateway serving TLS with it, the
 * RunPod simulator (the catalogue's `s2s-realtime` on a load-balancing endpoint) and a local
 * realtime upstream that requires its own key, plus helpers that call the account API over
 * HTTPS and open sessions both ways (the SDK's Node client, and `ws` with the subprotocol key).
 */
export const UPSTREAM_KEY = "upstream-own-secret-key";
export const SIM_KEY = "sim-runpod-key-realtime";

export interface RealtimeWorld {
  certs: TestCertificates;
  gateway: TestApp;
  upstream: RealtimeUpstream;
  sim: RunpodSimulator;
  /** The account API over HTTPS with the test CA trusted. */
  call(
    method: string,
    path: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; body: any }>;
  /** An account with a key (`permissions` default: all) and `usd` of credit. */
  tenant(usd: number, permissions?: string[]): Promise<{ accountId: string; key: string }>;
  /** Registers the local upstream as an external realtime upstream; answers its name. */
  registerUpstream(key: string, name?: string): Promise<string>;
  /** The SDK's Node client over wss:, the test CA passed to `ws`. */
  sdk(key: string, model: string): OpenAIRealtimeWS;
  /** The browser-style client: `ws` with subprotocols `realtime` + `openai-insecure-api-key.<key>`. */
  browser(key: string, model: string, path?: string): RealtimeTestClient;
  close(): Promise<void>;
}

export async function startRealtimeWorld(env: Record<string, string> = {}): Promise<RealtimeWorld> {
  const certs = createTestCertificates();
  const upstream = await startRealtimeUpstream({ apiKey: UPSTREAM_KEY });
  const sim = await startRunpodSimulator({ apiKey: SIM_KEY });
  const gateway = await startTestApp({
    env: {
      TLS_CERT_FILE: certs.certFile,
      TLS_KEY_FILE: certs.keyFile,
      ALLOW_PRIVATE_UPSTREAMS: "true",
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_REST_URL: sim.restUrl,
      RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
      RUNPOD_LB_URL: sim.lbUrlTemplate,
      RUNPOD_API_KEY: SIM_KEY,
      ...env,
    },
  });
  const fetchTls = fetchTrusting(certs.ca);
  const wssBase = gateway.url.replace("https:", "wss:");

  const call: RealtimeWorld["call"] = async (method, path, token, body) => {
    const response = await fetchTls(`${gateway.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const must = async (what: string, answer: Promise<{ status: number; body: any }>) => {
    const { status, body } = await answer;
    if (status >= 300) throw new Error(`${what}: ${status} ${JSON.stringify(body)}`);
    return body;
  };

  return {
    certs,
    gateway,
    upstream,
    sim,
    call,
    async tenant(usd, permissions = ["read", "proxy", "manage"]) {
      const email = `rt-${Math.random().toString(36).slice(2)}@example.com`;
      const account = await must(
        "account",
        call("POST", "/admin/accounts", TEST_ADMIN_KEY, { email }),
      );
      const key = await must(
        "key",
        call("POST", `/admin/accounts/${account.id}/api-keys`, TEST_ADMIN_KEY, {
          name: "realtime",
          permissions,
        }),
      );
      if (usd > 0) {
        await must(
          "credit",
          call("POST", `/admin/accounts/${account.id}/credits`, TEST_ADMIN_KEY, {
            amount_usd: usd,
            reason: "realtime test",
          }),
        );
      }
      return { accountId: account.id as string, key: key.key as string };
    },
    async registerUpstream(key, name = `voice-${Math.random().toString(36).slice(2, 8)}`) {
      await must(
        "register",
        call("POST", "/api/deployments", key, {
          provider: "external",
          name,
          model: "local-voice-1",
          base_url: upstream.baseUrl,
          api_key: UPSTREAM_KEY,
          realtime: true,
        }),
      );
      return name;
    },
    sdk(key, model) {
      const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      return new OpenAIRealtimeWS({ model, options: { ca: certs.ca } }, client);
    },
    browser(key, model, path = "/v1/realtime") {
      return connectRealtime(`${wssBase}${path}?model=${encodeURIComponent(model)}`, {
        protocols: ["realtime", `openai-insecure-api-key.${key}`],
        ws: { ca: certs.ca },
      });
    },
    async close() {
      await gateway.close();
      await upstream.close();
      await sim.close();
      certs.remove();
    },
  };
}

/**
 * Observes an SDK client the way a test needs: every server event in order (its `event`
 * emitter), `next(type)` bounded, the refused upgrade's status and envelope (read from `ws`'s
 * `unexpected-response`), the close code, and the SDK's own `error`s.
 */
export interface WatchedSdk {
  rt: OpenAIRealtimeWS;
  events: any[];
  errors: Error[];
  opened: Promise<void>;
  /** Rejects `{status, body}` when the upgrade is refused. */
  closed: Promise<{ code: number; reason: string }>;
  next(type: string, timeoutMs?: number): Promise<any>;
}

export function watchSdk(rt: OpenAIRealtimeWS): WatchedSdk {
  const events: any[] = [];
  const errors: Error[] = [];
  const taken = new Set<number>();
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  rt.on("event", (event) => {
    events.push(event);
    wake();
  });
  rt.on("error", (error) => errors.push(error));
  const opened = new Promise<void>((resolve, reject) => {
    rt.socket.once("open", () => resolve());
    rt.socket.once("unexpected-response", (_request, response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => (text += chunk.toString()));
      response.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        reject({ status: response.statusCode, body, headers: response.headers });
        rt.socket.terminate();
      });
    });
  });
  opened.catch(() => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    rt.socket.once("close", (code, reason) => {
      resolve({ code, reason: reason.toString() });
      wake();
    });
  });
  const next = (type: string, timeoutMs = 10_000) =>
    new Promise<any>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} within ${timeoutMs} ms (last: ${events.at(-1)?.type})`)),
        timeoutMs,
      );
      const look = () => {
        const index = events.findIndex((event, i) => !taken.has(i) && event.type === type);
        if (index !== -1) {
          taken.add(index);
          clearTimeout(timer);
          return resolve(events[index]);
        }
        if (rt.socket.readyState === rt.socket.CLOSED) {
          clearTimeout(timer);
          return reject(new Error(`socket closed before ${type}`));
        }
        waiters.push(look);
      };
      look();
    });
  return { rt, events, errors, opened, closed, next };
}
