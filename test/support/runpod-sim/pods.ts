import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SimContext } from "./context.ts";
import { BadJson, bearerToken, readJson, sendJson, sendProblem } from "./http-util.ts";

/** REST v2 Pods (runpod-api.md 3.3), with the status machine evaluated lazily against the clock. */

export type SimPodStatus =
  | "PROVISIONING"
  | "STARTING"
  | "RUNNING"
  | "EXITED"
  | "ERROR"
  | "TERMINATED";

export const ALLOWED_ACTIONS: Record<SimPodStatus, string[]> = {
  PROVISIONING: ["stop", "terminate"],
  STARTING: ["stop", "terminate"],
  RUNNING: ["stop", "restart", "terminate"],
  EXITED: ["start", "terminate"],
  ERROR: ["start", "terminate"],
  TERMINATED: [],
};

/** Secure-cloud USD per GPU-hour (runpod-api.md 3.3 catalogue `price.secure`). */
export const GPU_PRICES: Record<string, number> = {
  "NVIDIA GeForce RTX 4090": 0.69,
  "NVIDIA GeForce RTX 3090": 0.43,
  "NVIDIA RTX A5000": 0.27,
  "NVIDIA RTX A6000": 0.49,
  "NVIDIA L4": 0.43,
  "NVIDIA A40": 0.4,
  "NVIDIA L40S": 0.86,
  "NVIDIA A100 80GB PCIe": 1.64,
  "NVIDIA H100 80GB HBM3": 2.99,
  "NVIDIA H200": 3.59,
};

const GPU_MEMORY_GB: Record<string, number> = {
  "NVIDIA GeForce RTX 4090": 24,
  "NVIDIA GeForce RTX 3090": 24,
  "NVIDIA RTX A5000": 24,
  "NVIDIA RTX A6000": 48,
  "NVIDIA L4": 24,
  "NVIDIA A40": 48,
  "NVIDIA L40S": 48,
  "NVIDIA A100 80GB PCIe": 80,
  "NVIDIA H100 80GB HBM3": 80,
  "NVIDIA H200": 141,
};

export interface SimPod {
  id: string;
  name: string;
  status: SimPodStatus;
  /** When the current status was entered (simulator clock, ms). */
  statusSince: number;
  /** Pinned by `setPodStatus`/`killPod`/stuckProvisioning: the clock does not move it on. */
  pinned: boolean;
  image: string;
  disk: number;
  ports: string[];
  env: Record<string, string>;
  gpu: { id: string; count: number } | null;
  cpu: unknown;
  cloud: string;
  dataCenterId: string;
  createdAt: number;
  startedAt: number | null;
  /** When Ollama started answering, if RUNNING. */
  runningSince: number | null;
  terminatedAt: number | null;
  /** Models pulled into this pod's Ollama. */
  models: Map<string, { size: number; digest: string; modifiedAt: number }>;
  /** Models loaded in memory (for /api/ps). */
  loaded: Set<string>;
  /** `start` actions applied (a wake is one). */
  starts?: number;
  /** Last request through the pod proxy (podIdleStopMs). */
  lastRequestAt?: number;
}

export class PodStore {
  readonly pods = new Map<string, SimPod>();

  constructor(private readonly ctx: SimContext) {}

  /** Advances PROVISIONING -> STARTING -> RUNNING according to the knobs and the clock. */
  refresh(pod: SimPod): SimPod {
    const { knobs } = this.ctx;
    const now = this.ctx.now();
    if (pod.pinned) return pod;
    if (pod.status === "PROVISIONING" && now >= pod.statusSince + knobs.provisionMs) {
      this.enter(pod, "STARTING", pod.statusSince + knobs.provisionMs);
    }
    if (pod.status === "STARTING" && now >= pod.statusSince + knobs.startMs) {
      this.enter(pod, "RUNNING", pod.statusSince + knobs.startMs);
    }
    if (pod.status === "RUNNING" && knobs.podIdleStopMs !== null) {
      const idleSince = Math.max(pod.runningSince ?? now, pod.lastRequestAt ?? 0);
      if (now >= idleSince + knobs.podIdleStopMs) {
        this.enter(pod, "EXITED", idleSince + knobs.podIdleStopMs);
      }
    }
    return pod;
  }

  enter(pod: SimPod, status: SimPodStatus, at = this.ctx.now()): void {
    pod.status = status;
    pod.statusSince = at;
    pod.runningSince = status === "RUNNING" ? at : null;
    if (status !== "RUNNING") pod.loaded.clear();
    if (status === "TERMINATED") pod.terminatedAt = at;
  }

  /** Undefined when unknown, or terminated longer than `terminatedVisibleMs` ago. */
  get(id: string): SimPod | undefined {
    const pod = this.pods.get(id);
    if (!pod) return undefined;
    if (
      pod.status === "TERMINATED" &&
      this.ctx.now() >= (pod.terminatedAt ?? 0) + this.ctx.knobs.terminatedVisibleMs
    ) {
      this.pods.delete(id);
      return undefined;
    }
    return this.refresh(pod);
  }

  list(): SimPod[] {
    return [...this.pods.keys()].map((id) => this.get(id)).filter((p): p is SimPod => !!p);
  }

  gpuPrice(id: string): number {
    return this.ctx.knobs.gpuPrices[id] ?? GPU_PRICES[id] ?? 0.5;
  }

  /** GPUs of a type still free: the stock knob minus pods holding one (not TERMINATED). */
  freeGpus(id: string): number {
    const stock = this.ctx.knobs.gpuStock[id];
    if (stock === undefined) return Infinity;
    const used = this.list().filter((p) => p.status !== "TERMINATED" && p.gpu?.id === id)
      .reduce((sum, p) => sum + (p.gpu?.count ?? 0), 0);
    return Math.max(0, stock - used);
  }

  /** A `GET /catalog/gpus` entry (runpod-api.md 3.3 "GPU catalog entry"). */
  catalogEntry(id: string): Record<string, unknown> {
    const price = this.gpuPrice(id);
    const free = this.freeGpus(id);
    const unavailable = this.ctx.knobs.unavailableGpus.includes(id) || free === 0;
    return {
      id,
      name: id.replace(/^NVIDIA (GeForce )?/, ""),
      pool: `${(GPU_MEMORY_GB[id] ?? 24) >= 80 ? "AMPERE" : "ADA"}_${GPU_MEMORY_GB[id] ?? 24}`,
      manufacturer: "Nvidia",
      memory: GPU_MEMORY_GB[id] ?? 24,
      secure: true,
      community: true,
      price: {
        secure: price,
        community: Math.round(price * 0.8 * 100) / 100,
        serverless: Math.round(price * 1.5 * 100) / 100,
      },
      maxCount: { secure: 8, community: 8 },
      availability: unavailable ? "NONE" : free < 2 ? "LOW" : "HIGH",
    };
  }

  /** True when the pod's Ollama answers through the proxy. */
  ollamaReady(pod: SimPod): boolean {
    this.refresh(pod);
    return pod.status === "RUNNING" && pod.runningSince !== null && pod.gpu?.count !== 0 &&
      this.ctx.now() >= pod.runningSince + this.ctx.knobs.ollamaReadyMs;
  }

  view(pod: SimPod): Record<string, unknown> {
    const now = this.ctx.now();
    const running = pod.status === "RUNNING";
    const price = pod.gpu ? this.gpuPrice(pod.gpu.id) * pod.gpu.count : 0.1;
    const costKnob = this.ctx.knobs.podCost;
    const stopped = pod.status === "EXITED" || pod.status === "TERMINATED";
    const tcpPorts = pod.ports.filter((p) => p.endsWith("/tcp")).map((p) => parseInt(p, 10));
    return {
      id: pod.id,
      name: pod.name,
      status: pod.status,
      actions: ALLOWED_ACTIONS[pod.status],
      image: pod.image,
      args: null,
      disk: pod.disk,
      ports: pod.ports,
      env: pod.env,
      gpu: pod.gpu,
      ...(pod.cpu ? { cpu: pod.cpu } : {}),
      cloud: pod.cloud,
      dataCenterId: pod.dataCenterId,
      cudaVersion: "12.8",
      ...(costKnob === "missing" ? {} : {
        cost: typeof costKnob === "number"
          ? costKnob
          : stopped
          ? 0
          : Math.round(price * 1000) / 1000,
      }),
      locked: false,
      ssh: null,
      createdAt: new Date(pod.createdAt).toISOString(),
      startedAt: pod.startedAt === null ? null : new Date(pod.startedAt).toISOString(),
      runtime: running
        ? {
          uptime: Math.floor((now - (pod.runningSince ?? now)) / 1000),
          gpus: pod.gpu
            ? Array.from({ length: pod.gpu.count }, () => ({ util: 0, memoryUtil: 0 }))
            : [],
          cpu: { util: 1 },
          memory: { util: 5 },
          ports: tcpPorts.map((p, i) => ({
            private: p,
            public: 30000 + i,
            type: "tcp",
            ip: "127.0.0.1",
          })),
        }
        : null,
    };
  }

  create(
    body: any,
  ): { pod?: SimPod; errors?: string[]; unavailable?: boolean; notEnoughFree?: boolean } {
    const errors: string[] = [];
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return { errors: ["body must be a JSON object"] };
    }
    if (body.name !== undefined && typeof body.name !== "string") {
      errors.push("name must be a string");
    }
    if (typeof body.image !== "string" && typeof body.templateId !== "string") {
      errors.push("image is required unless templateId is given");
    }
    if ((body.gpu === undefined) === (body.cpu === undefined)) {
      errors.push("exactly one of gpu or cpu is required");
    }
    if (body.gpu !== undefined) {
      if (typeof body.gpu?.id !== "string" || body.gpu.id === "") errors.push("gpu.id is required");
      if (
        body.gpu?.count !== undefined &&
        (!Number.isInteger(body.gpu.count) || body.gpu.count < 1 || body.gpu.count > 8)
      ) errors.push("gpu.count must be an integer between 1 and 8");
    }
    if (body.ports !== undefined) {
      if (!Array.isArray(body.ports)) errors.push('ports must be an array like ["11434/http"]');
      else {
        for (const port of body.ports) {
          if (typeof port !== "string" || !/^\d{1,5}\/(http|tcp)$/.test(port)) {
            errors.push(
              `invalid port ${JSON.stringify(port)}: expected "<port>/http" or "<port>/tcp"`,
            );
          }
        }
        if (body.ports.filter((p: string) => String(p).endsWith("/http")).length > 10) {
          errors.push("at most 10 http ports");
        }
      }
    }
    if (body.env !== undefined) {
      if (typeof body.env !== "object" || body.env === null || Array.isArray(body.env)) {
        errors.push("env must be an object of strings");
      } else if (Object.values(body.env).some((v) => typeof v !== "string")) {
        errors.push("env values must be strings");
      }
    }
    if (body.disk !== undefined && (!Number.isInteger(body.disk) || body.disk < 1)) {
      errors.push("disk must be a positive integer (GB)");
    }
    if (body.cloud !== undefined && !["SECURE", "COMMUNITY"].includes(body.cloud)) {
      errors.push("cloud must be SECURE or COMMUNITY");
    }
    if (errors.length) return { errors };
    if (body.gpu && this.ctx.knobs.unavailableGpus.includes(body.gpu.id)) {
      return { unavailable: true };
    }
    if (body.gpu && this.freeGpus(body.gpu.id) < (body.gpu.count ?? 1)) {
      return { unavailable: true, notEnoughFree: true };
    }
    const now = this.ctx.now();
    const pod: SimPod = {
      id: randomBytes(10).toString("base64").replace(/[^a-z0-9]/gi, "").toLowerCase().padEnd(
        14,
        "x",
      )
        .slice(0, 14),
      name: body.name ?? "pod",
      status: "PROVISIONING",
      statusSince: now,
      pinned: this.ctx.knobs.stuckProvisioning,
      image: body.image ?? `template:${body.templateId}`,
      disk: body.disk ?? 50,
      ports: body.ports ?? [],
      env: body.env ?? {},
      gpu: body.gpu ? { id: body.gpu.id, count: body.gpu.count ?? 1 } : null,
      cpu: body.cpu,
      cloud: body.cloud ?? "SECURE",
      dataCenterId: body.dataCenterIds?.[0] ?? "US-TX-3",
      createdAt: now,
      startedAt: now,
      runningSince: null,
      terminatedAt: null,
      models: new Map(),
      loaded: new Set(),
    };
    for (const model of this.ctx.knobs.podModels) addModel(pod, model, now);
    this.pods.set(pod.id, pod);
    return { pod };
  }

  /** Applies an action; returns an error message if it is not allowed in the current status. */
  action(pod: SimPod, action: string): string | undefined {
    this.refresh(pod);
    if (!ALLOWED_ACTIONS[pod.status].includes(action)) {
      return `action ${action} is not allowed when the pod is ${pod.status}`;
    }
    pod.pinned = false;
    const now = this.ctx.now();
    if (action === "stop") this.enter(pod, "EXITED");
    else if (action === "terminate") this.enter(pod, "TERMINATED");
    else if (action === "start" || action === "restart") {
      this.enter(pod, "STARTING");
      pod.startedAt = now;
      pod.starts = (pod.starts ?? 0) + 1;
      if (action === "start" && this.ctx.knobs.gpuLostOnRestart > 0 && pod.gpu) {
        this.ctx.knobs.gpuLostOnRestart--;
        pod.gpu = { id: pod.gpu.id, count: 0 };
      }
    }
    return undefined;
  }
}

export function normaliseModelName(model: string): string {
  return model.includes(":") ? model : `${model}:latest`;
}

export function addModel(pod: SimPod, model: string, now: number): void {
  const name = normaliseModelName(model);
  const digest = createDigest(name);
  pod.models.set(name, {
    size: 2_019_393_189 + (digest.charCodeAt(7) % 97),
    digest,
    modifiedAt: now,
  });
}

export function createDigest(name: string): string {
  let hex = "";
  let h = 0x811c9dc5;
  for (let round = 0; hex.length < 64; round++) {
    for (const ch of `${name}#${round}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    hex += h.toString(16).padStart(8, "0");
  }
  return hex.slice(0, 64);
}

/** Counts REST requests per minute window for RateLimit headers. */
class RateWindow {
  private windowStart = 0;
  private count = 0;
  take(now: number, limit: number): { remaining: number; resetSeconds: number; allowed: boolean } {
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count++;
    const resetSeconds = Math.max(0, Math.ceil((this.windowStart + 60_000 - now) / 1000));
    return {
      remaining: Math.max(0, limit - this.count),
      resetSeconds,
      allowed: this.count <= limit,
    };
  }
}

export function createRestHandler(ctx: SimContext, store: PodStore) {
  const window = new RateWindow();
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const limit = ctx.knobs.restRateLimitPerMinute;
    const rate = window.take(ctx.now(), limit);
    const headers = {
      RateLimit: `"minute";r=${rate.remaining};t=${rate.resetSeconds}`,
      "RateLimit-Policy": `"minute";q=${limit};w=60`,
    };
    if (ctx.apiKey !== undefined) {
      const token = bearerToken(req);
      if (!token) return sendProblem(res, 401, "missing bearer token", [], headers);
      if (token !== ctx.apiKey) return sendProblem(res, 401, "invalid bearer token", [], headers);
    }
    if (!rate.allowed) {
      return sendProblem(res, 429, "rate limit exceeded", [], {
        ...headers,
        "Retry-After": String(rate.resetSeconds),
      });
    }
    const method = req.method ?? "GET";
    const segments = path.split("/").filter(Boolean);
    try {
      if (segments[0] === "catalog" && segments[1] === "gpus" && method === "GET") {
        if (!ctx.knobs.gpuCatalogAvailable) {
          return sendProblem(res, 503, "catalog unavailable", [], headers);
        }
        if (segments.length === 2) {
          const ids = [
            ...new Set([...Object.keys(GPU_PRICES), ...Object.keys(ctx.knobs.gpuPrices)]),
          ];
          return sendJson(res, 200, ids.map((id) => store.catalogEntry(id)), headers);
        }
        const id = decodeURIComponent(segments.slice(2).join("/"));
        if (!(id in GPU_PRICES) && !(id in ctx.knobs.gpuPrices)) {
          return sendProblem(res, 404, "gpu type not found", [], headers);
        }
        return sendJson(res, 200, store.catalogEntry(id), headers);
      }
      if (segments[0] !== "pods") return sendProblem(res, 404, "not found", [], headers);
      if (segments.length === 1) {
        if (method === "GET") {
          const status = new URL(req.url ?? "/", "http://x").searchParams.get("status");
          const pods = store.list().filter((p) => p.status !== "TERMINATED")
            .filter((p) => !status || p.status === status);
          return sendJson(res, 200, { pods: pods.map((p) => store.view(p)) }, headers);
        }
        if (method === "POST") {
          const result = store.create(await readJson(req));
          if (result.errors) {
            return sendProblem(res, 400, "invalid request body", result.errors, headers);
          }
          if (result.unavailable) {
            return sendProblem(
              res,
              500,
              result.notEnoughFree
                ? "There are not enough free GPUs on the host machine to deploy this pod."
                : "There are no longer any instances available with the requested specifications. " +
                  "Please refresh and try again.",
              [],
              headers,
            );
          }
          return sendJson(res, 201, store.view(result.pod!), headers);
        }
        return sendProblem(res, 405, `method ${method} not allowed`, [], headers);
      }
      const pod = store.get(segments[1]);
      if (!pod) return sendProblem(res, 404, "pod not found", [], headers);
      if (segments.length === 2) {
        if (method === "GET") return sendJson(res, 200, store.view(pod), headers);
        if (method === "DELETE") {
          if (pod.status !== "TERMINATED") store.enter(pod, "TERMINATED");
          res.writeHead(204, headers);
          return void res.end();
        }
        if (method === "PATCH") {
          const body = await readJson(req);
          if (typeof body.name === "string") pod.name = body.name;
          if (typeof body.image === "string") pod.image = body.image;
          if (body.env && typeof body.env === "object") pod.env = body.env;
          if (Array.isArray(body.ports)) pod.ports = body.ports;
          return sendJson(res, 200, store.view(pod), headers);
        }
        return sendProblem(res, 405, `method ${method} not allowed`, [], headers);
      }
      if (segments.length === 3 && segments[2] === "action" && method === "POST") {
        const body = await readJson(req);
        const action = body?.action;
        if (!["start", "stop", "restart", "terminate"].includes(action)) {
          return sendProblem(res, 400, "invalid action", [
            "action must be one of start, stop, restart, terminate",
          ], headers);
        }
        if (action === "start" && ctx.knobs.noFreeGpusOnStart > 0 && pod.status === "EXITED") {
          ctx.knobs.noFreeGpusOnStart--;
          return sendProblem(
            res,
            500,
            "There are not enough free GPUs on the host machine to start this pod.",
            [],
            headers,
          );
        }
        const refused = store.action(pod, action);
        if (refused) return sendProblem(res, 409, refused, [], headers);
        if (action === "terminate") {
          res.writeHead(204, headers);
          return void res.end();
        }
        return sendJson(res, 200, store.view(pod), headers);
      }
      return sendProblem(res, 404, "not found", [], headers);
    } catch (error) {
      if (error instanceof BadJson) return sendProblem(res, 400, error.message, [], headers);
      throw error;
    }
  };
}
