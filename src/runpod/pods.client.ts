import type { RunpodConfig } from "./runpod.config.ts";
import { RunpodHttp, type RunpodHttpOptions } from "./runpod-http.ts";

/** RunPod REST v2 Pods (runpod-api.md 3.3). */

export type PodStatus =
  | "PROVISIONING"
  | "STARTING"
  | "RUNNING"
  | "EXITED"
  | "ERROR"
  | "TERMINATED";

export type PodAction = "start" | "stop" | "restart" | "terminate";

export interface PodRuntime {
  uptime: number;
  gpus?: { util: number; memoryUtil: number }[];
  cpu?: { util: number };
  memory?: { util: number };
  ports?: { private: number; public: number; type: "tcp" | "http"; ip: string }[];
}

export interface Pod {
  id: string;
  name: string;
  status: PodStatus;
  /** Actions allowed in the current status. */
  actions: PodAction[];
  image: string;
  disk?: number;
  ports: string[];
  env: Record<string, string>;
  gpu: { id: string; count: number } | null;
  cloud?: string;
  dataCenterId?: string;
  /** USD per hour; 0 when EXITED or TERMINATED. */
  cost: number;
  createdAt: string;
  startedAt: string | null;
  /** Null unless RUNNING. */
  runtime: PodRuntime | null;
}

export interface CreatePodInput {
  name: string;
  image: string;
  gpu: { id: string; count: number; allowedCudaVersions?: string[]; minCudaVersion?: string };
  /** e.g. `["11434/http", "22/tcp"]`. */
  ports?: string[];
  env?: Record<string, string>;
  /** Container disk, GB. */
  disk?: number;
  cloud?: "SECURE" | "COMMUNITY";
  dataCenterIds?: string[];
  mounts?: { persistent?: { size: number; path: string } };
  startSsh?: boolean;
}

/** REST v2 GPU catalogue entry (runpod-api.md 3.3, `GET /v2/catalog/gpus/{id}`). */
export interface GpuType {
  id: string;
  name?: string;
  memory?: number;
  secure?: boolean;
  community?: boolean;
  /** USD per GPU-hour by cloud. */
  price?: { secure?: number; community?: number; serverless?: number };
  availability?: "NONE" | "LOW" | "MEDIUM" | "HIGH";
}

/**
 * The price RunPod reports for a pod, USD/h: REST v2 `cost`, or `costPerHr` (GraphQL and REST v1
 * name it so). Undefined unless a positive finite number: a pod is never free by accident.
 */
export function reportedPodCost(pod: Pod | undefined): number | undefined {
  const raw = pod as unknown as { cost?: unknown; costPerHr?: unknown } | undefined;
  const cost = raw?.cost ?? raw?.costPerHr;
  return typeof cost === "number" && Number.isFinite(cost) && cost > 0 ? cost : undefined;
}

/** What one GPU of this type costs per hour on the cloud ModelPilot rents in (secure first). */
export function gpuTypePrice(gpu: GpuType | undefined): number | undefined {
  for (const price of [gpu?.price?.secure, gpu?.price?.community]) {
    if (typeof price === "number" && Number.isFinite(price) && price > 0) return price;
  }
  return undefined;
}

export class PodsClient {
  private readonly http: RunpodHttp;

  constructor(config: RunpodConfig, options: Partial<RunpodHttpOptions> = {}) {
    this.http = new RunpodHttp({
      baseUrl: config.restUrl,
      apiKey: config.apiKey,
      timeoutMs: config.requestTimeoutMs,
      maxRetries: config.maxRetries,
      ...options,
    });
  }

  /**
   * Rents a pod. Not retried after a timeout or 5xx (only after 429): the pod may exist
   * already, and a second one would bill by the hour. Callers reconcile by listing pods by name.
   */
  async createPod(input: CreatePodInput, signal?: AbortSignal): Promise<Pod> {
    const { body } = await this.http.request<Pod>({
      method: "POST",
      path: "/pods",
      body: input,
      signal,
    });
    return body;
  }

  /** One GPU type from RunPod's catalogue (price and availability); RunpodNotFound when unknown. */
  async getGpuType(id: string, signal?: AbortSignal): Promise<GpuType> {
    const { body } = await this.http.request<GpuType>({
      method: "GET",
      path: `/catalog/gpus/${encodeURIComponent(id)}`,
      signal,
    });
    return body;
  }

  async getPod(id: string, signal?: AbortSignal): Promise<Pod> {
    const { body } = await this.http.request<Pod>({ method: "GET", path: podPath(id), signal });
    return body;
  }

  async listPods(signal?: AbortSignal): Promise<Pod[]> {
    const { body } = await this.http.request<{ pods: Pod[] }>({
      method: "GET",
      path: "/pods",
      signal,
    });
    return body?.pods ?? [];
  }

  /** EXITED/ERROR -> STARTING; 409 (RunpodConflict) when not allowed now. */
  startPod(id: string, signal?: AbortSignal): Promise<Pod> {
    return this.action(id, "start", signal) as Promise<Pod>;
  }

  /** -> EXITED; 409 when already EXITED. */
  stopPod(id: string, signal?: AbortSignal): Promise<Pod> {
    return this.action(id, "stop", signal) as Promise<Pod>;
  }

  restartPod(id: string, signal?: AbortSignal): Promise<Pod> {
    return this.action(id, "restart", signal) as Promise<Pod>;
  }

  /** -> TERMINATED (204). */
  async terminatePod(id: string, signal?: AbortSignal): Promise<void> {
    await this.action(id, "terminate", signal);
  }

  /**
   * Actions name a desired state, so repeating one after a lost response cannot do extra work;
   * they are retry-safe. A retried action may then answer 409 because the first attempt
   * succeeded: callers re-read the pod when they get RunpodConflict with `attempts > 1`.
   */
  private async action(id: string, action: PodAction, signal?: AbortSignal): Promise<Pod | void> {
    const { status, body } = await this.http.request<Pod | undefined>({
      method: "POST",
      path: `${podPath(id)}/action`,
      body: { action },
      retrySafe: true,
      signal,
    });
    return status === 204 ? undefined : body;
  }
}

function podPath(id: string): string {
  return `/pods/${encodeURIComponent(id)}`;
}
