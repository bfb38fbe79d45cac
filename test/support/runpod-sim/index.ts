import type { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { SimContext } from "./context.ts";
import { seededRandom } from "../seeded-random.ts";
import { sendJson, sendProblem, sendText, sleep } from "./http-util.ts";
import {
  DEFAULT_ENDPOINTS,
  DEFAULT_KNOBS,
  type EndpointConfig,
  type SimulatorKnobs,
} from "./knobs.ts";
import { createLoadBalancer } from "./load-balancer.ts";
import { createProxyHandler } from "./ollama.ts";
import { addModel, createRestHandler, PodStore, type SimPod, type SimPodStatus } from "./pods.ts";
import { createServerlessHandler, ServerlessStore, type SimJob } from "./serverless.ts";

export type { EndpointConfig, SimulatorKnobs, WorkerKind } from "./knobs.ts";
export { DEFAULT_ENDPOINTS, DEFAULT_KNOBS } from "./knobs.ts";
export type { SimPod, SimPodStatus } from "./pods.ts";
export type { SimJob, SimJobStatus } from "./serverless.ts";

/**
 * A local simulator of the RunPod APIs ModelPilot uses, on one loopback HTTP server:
 *   `${baseUrl}/rest/v2/…`             REST v2 Pods               (RUNPOD_REST_URL = restUrl)
 *   `${baseUrl}/serverless/v2/{id}/…`  Serverless queue + OpenAI  (RUNPOD_API_URL = serverlessUrl)
 *   `${baseUrl}/proxy/{podId}-{port}/…` pod HTTP proxy → Ollama   (RUNPOD_POD_PROXY_URL = podProxyTemplate)
 *   `${baseUrl}/files/{name}`          generated media (flux-public images, wan-t2v videos)
 *   `${baseUrl}/lb/{endpointId}/…`     load-balancing endpoints: realtime over WebSocket
 *                                      (RUNPOD_LB_URL = lbUrlTemplate)
 */

export interface SimulatorOptions extends Partial<SimulatorKnobs> {
  port?: number;
  /** When set, every REST and Serverless request must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Serverless endpoints; defaults to DEFAULT_ENDPOINTS. */
  endpoints?: EndpointConfig[];
}

export type Section = "rest" | "serverless" | "proxy" | "files" | "lb";

interface Injection {
  pattern: string | RegExp;
  remaining: number;
  status?: number;
  stallMs?: number;
  retryAfterSeconds?: number;
  detail?: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  section: Section | "unknown";
  authorization?: string;
}

export interface RunpodSimulator {
  baseUrl: string;
  restUrl: string;
  serverlessUrl: string;
  podProxyTemplate: string;
  /** `${baseUrl}/lb/{endpointId}`: RUNPOD_LB_URL for load-balancing (realtime) endpoints. */
  lbUrlTemplate: string;
  apiKey?: string;
  /** Mutable: change a knob and the next request sees it. */
  knobs: SimulatorKnobs;
  endpoints: Map<string, EndpointConfig>;
  /** Every request received, oldest first. */
  requests: RequestRecord[];
  /** The simulator clock (ms): wall time plus `advanceTime` offsets. */
  now(): number;
  /** Moves the simulator clock forward (pod transitions, job lifecycle, retention, TTL). */
  advanceTime(ms: number): void;
  /** The next `count` requests whose path matches fail with `status` (before auth). */
  failNext(
    pattern: string | RegExp,
    status: number,
    count?: number,
    options?: { retryAfterSeconds?: number; detail?: string },
  ): void;
  /** The next `count` matching requests wait `ms` before being handled (to provoke timeouts). */
  stallNext(pattern: string | RegExp, ms: number, count?: number): void;
  pods(): SimPod[];
  pod(id: string): SimPod | undefined;
  /** The pod dies behind the gateway's back (console stop, host failure). */
  killPod(id: string, status?: "EXITED" | "ERROR"): void;
  /** Pins a pod in a status (the clock no longer moves it on until an action). */
  setPodStatus(id: string, status: SimPodStatus): void;
  /** Puts a model into a pod's Ollama as if pulled. */
  addPodModel(id: string, model: string): void;
  jobs(): SimJob[];
  job(id: string): SimJob | undefined;
  addEndpoint(endpoint: EndpointConfig): void;
  /** The endpoint loses its warm worker: the next job pays a cold start. */
  coolDown(endpointId: string): void;
  /** Realtime sessions open on load-balancing endpoints now. */
  realtimeSessions(): number;
  /** Destroys every open realtime session's socket without a close frame; answers how many. */
  dropRealtimeSessions(): number;
  close(): Promise<void>;
}

export async function startRunpodSimulator(
  options: SimulatorOptions = {},
): Promise<RunpodSimulator> {
  const { port = 0, apiKey, endpoints: endpointList, ...knobOverrides } = options;
  const knobs: SimulatorKnobs = { ...DEFAULT_KNOBS, ...knobOverrides };
  let offset = 0;
  const endpoints = new Map((endpointList ?? DEFAULT_ENDPOINTS).map((e) => [e.id, { ...e }]));
  const random = seededRandom(knobs.seed);
  const ctx: SimContext = {
    knobs,
    apiKey,
    baseUrl: "",
    now: () => Date.now() + offset,
    endpoints,
    files: new Map(),
    random,
  };
  const podStore = new PodStore(ctx);
  const jobStore = new ServerlessStore(ctx);
  const rest = createRestHandler(ctx, podStore);
  const serverless = createServerlessHandler(ctx, jobStore);
  const proxy = createProxyHandler(ctx, podStore);
  const loadBalancer = createLoadBalancer(ctx);
  const injections: Injection[] = [];
  const requests: RequestRecord[] = [];

  const takeInjection = (path: string): Injection | undefined => {
    const found = injections.find((i) =>
      i.remaining > 0 &&
      (typeof i.pattern === "string" ? path.includes(i.pattern) : i.pattern.test(path))
    );
    if (found) {
      found.remaining--;
      if (found.remaining === 0) injections.splice(injections.indexOf(found), 1);
    }
    return found;
  };

  const sectionOf = (path: string): Section | "unknown" =>
    path.startsWith("/rest/v2")
      ? "rest"
      : path.startsWith("/serverless/v2/")
      ? "serverless"
      : path.startsWith("/proxy/")
      ? "proxy"
      : path.startsWith("/files/")
      ? "files"
      : path.startsWith("/lb/")
      ? "lb"
      : "unknown";
  /** `/lb/{endpointId}/rest…` → [endpointId, "/rest…"] */
  const lbTarget = (path: string): [string, string] => {
    const rest = path.slice("/lb/".length);
    const slash = rest.indexOf("/");
    return slash === -1 ? [rest, "/"] : [rest.slice(0, slash), rest.slice(slash)];
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://sim");
    const path = url.pathname;
    const section = sectionOf(path);
    requests.push({
      method: req.method ?? "GET",
      path: path + url.search,
      section,
      authorization: req.headers.authorization,
    });
    if (requests.length > 10_000) requests.splice(0, 5_000);

    const injection = takeInjection(path);
    if (injection?.stallMs) {
      await sleep(injection.stallMs);
      if (res.destroyed) return;
    }
    if (injection?.status) {
      req.resume();
      const headers: Record<string, string> = {};
      if (injection.status === 429) {
        headers["Retry-After"] = String(injection.retryAfterSeconds ?? 0);
      }
      const detail = injection.detail ?? `simulated ${injection.status}`;
      if (section === "rest") return sendProblem(res, injection.status, detail, [], headers);
      if (section === "proxy" && injection.status >= 500) {
        res.writeHead(injection.status, { "content-type": "text/html", ...headers });
        return void res.end(`<html><body>${injection.status}</body></html>`);
      }
      return sendJson(res, injection.status, { error: detail }, headers);
    }

    if (section === "rest") return rest(req, res, path.slice("/rest/v2".length));
    if (section === "serverless") return serverless(req, res, path.slice("/serverless/v2".length));
    if (section === "proxy") {
      const rest = path.slice("/proxy/".length);
      const slash = rest.indexOf("/");
      const host = slash === -1 ? rest : rest.slice(0, slash);
      return proxy(req, res, host, slash === -1 ? "/" : rest.slice(slash));
    }
    if (section === "lb") return loadBalancer.http(req, res, ...lbTarget(path));
    if (section === "files") {
      const file = ctx.files.get(decodeURIComponent(path.slice("/files/".length)));
      if (!file) return sendText(res, 404, "not found");
      res.writeHead(200, {
        "content-type": file.contentType,
        "content-length": String(file.data.length),
      });
      return void res.end(req.method === "HEAD" ? undefined : file.data);
    }
    return sendText(res, 404, "not found");
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) {
        sendJson(res, 500, { error: `simulator error: ${(error as Error).message}` });
      } else res.destroy();
    });
  });
  // WebSocket upgrades: only load-balancing endpoints hold sockets; injections apply as to HTTP.
  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://sim");
    const section = sectionOf(url.pathname);
    requests.push({
      method: "UPGRADE",
      path: url.pathname + url.search,
      section,
      authorization: req.headers.authorization,
    });
    const injection = takeInjection(url.pathname);
    if (injection?.stallMs) await sleep(injection.stallMs);
    if (socket.destroyed) return;
    if (injection?.status || section !== "lb") {
      const status = injection?.status ?? 404;
      const body = JSON.stringify({ error: injection?.detail ?? `simulated ${status}` });
      return void socket.end(
        `HTTP/1.1 ${status} Simulated\r\ncontent-type: application/json\r\n` +
          `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    loadBalancer.upgrade(req, socket, head, ...lbTarget(url.pathname));
  };
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    upgrade(req, socket, head).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${address.port}`;
  ctx.baseUrl = baseUrl;

  const requirePod = (id: string): SimPod => {
    const pod = podStore.pods.get(id);
    if (!pod) throw new Error(`no simulated pod ${id}`);
    return pod;
  };

  return {
    baseUrl,
    restUrl: `${baseUrl}/rest/v2`,
    serverlessUrl: `${baseUrl}/serverless/v2`,
    podProxyTemplate: `${baseUrl}/proxy/{podId}-{port}`,
    lbUrlTemplate: `${baseUrl}/lb/{endpointId}`,
    apiKey,
    knobs,
    endpoints,
    requests,
    now: ctx.now,
    advanceTime: (ms) => {
      offset += ms;
    },
    failNext: (pattern, status, count = 1, opts = {}) => {
      injections.push({ pattern, status, remaining: count, ...opts });
    },
    stallNext: (pattern, ms, count = 1) => {
      injections.push({ pattern, stallMs: ms, remaining: count });
    },
    pods: () => podStore.list(),
    pod: (id) => podStore.get(id),
    killPod: (id, status = "EXITED") => {
      const pod = requirePod(id);
      podStore.enter(pod, status);
      pod.pinned = true;
    },
    setPodStatus: (id, status) => {
      const pod = requirePod(id);
      podStore.enter(pod, status);
      pod.pinned = true;
    },
    addPodModel: (id, model) => addModel(requirePod(id), model, ctx.now()),
    jobs: () => [...jobStore.jobs.values()],
    job: (id) => jobStore.get(id),
    addEndpoint: (endpoint) => void endpoints.set(endpoint.id, { ...endpoint }),
    coolDown: (endpointId) => jobStore.coolDown(endpointId),
    realtimeSessions: () => loadBalancer.sessions().length,
    dropRealtimeSessions: () => loadBalancer.dropSessions(),
    close: () =>
      new Promise<void>((resolve) => {
        loadBalancer.close();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
