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
