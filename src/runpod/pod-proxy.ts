/**
 * The pod HTTP proxy (`https://{podId}-{port}.proxy.runpod.net`) and the Ollama server behind
 * it (runpod-api.md 3.4, 5). The proxy is public: no RunPod key is sent. It answers 502 while
 * nothing listens on the port, and cuts responses silent for 100 s (524), so pulls stream.
 */

import { BoundedBody } from "../common/bounded-body.ts";

/** Most bytes read from an Ollama JSON answer (tags, ps, version). */
const MAX_JSON_BYTES = 16 * 1024 * 1024;
/** Most bytes of one pull progress line, and of the readiness or error text kept. */
const MAX_LINE_BYTES = 1024 * 1024;
const MAX_TEXT_BYTES = 64 * 1024;

export function podProxyUrl(template: string, podId: string, port: number): string {
  return template.replaceAll("{podId}", encodeURIComponent(podId)).replaceAll(
    "{port}",
    String(port),
  )
    .replace(/\/+$/, "");
}

export const OLLAMA_PORT = 11434;

export class OllamaError extends Error {
  constructor(message: string, readonly status: number | null = null) {
    super(message);
    this.name = "OllamaError";
  }
}

export interface OllamaModel {
  name: string;
  model: string;
  modified_at: string;
  size: number;
  digest: string;
  details?: Record<string, unknown>;
}

export interface PullProgress {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

export interface OllamaClientOptions {
  /** Timeout for ordinary requests. */
  timeoutMs?: number;
  /** Timeout for the readiness probe. */
  readyTimeoutMs?: number;
  /** A pull fails if no progress line arrives for this long (the proxy's limit is 100 s). */
  pullIdleTimeoutMs?: number;
  fetch?: typeof fetch;
}

export class OllamaClient {
  readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(baseUrl: string, private readonly options: OllamaClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  static forPod(template: string, podId: string, options?: OllamaClientOptions): OllamaClient {
    return new OllamaClient(podProxyUrl(template, podId, OLLAMA_PORT), options);
  }

  /** Base URL for the `openai` SDK (Ollama ignores the key, but the SDK wants one). */
  get openAiBaseUrl(): string {
    return `${this.baseUrl}/v1`;
  }

  /** True once `GET /` answers 200 `Ollama is running`; false on 502, errors or timeout. */
  async isReady(signal?: AbortSignal): Promise<boolean> {
    try {
      const response = await this.fetchImpl(`${this.baseUrl}/`, {
        signal: withTimeout(this.options.readyTimeoutMs ?? 2_000, signal),
      });
      const text = await BoundedBody.of(response, { maxBytes: MAX_TEXT_BYTES }).text();
      return response.status === 200 && text.includes("Ollama is running");
    } catch {
      return false;
    }
  }

  async version(signal?: AbortSignal): Promise<string> {
    const body = await this.getJson<{ version: string }>("/api/version", signal);
    return body.version;
  }

  async tags(signal?: AbortSignal): Promise<OllamaModel[]> {
    const body = await this.getJson<{ models: OllamaModel[] }>("/api/tags", signal);
    return body.models ?? [];
  }

  /** Models loaded in memory. */
  async ps(
    signal?: AbortSignal,
  ): Promise<(OllamaModel & { expires_at?: string; size_vram?: number })[]> {
    const body = await this.getJson<{ models: OllamaModel[] }>("/api/ps", signal);
    return body.models ?? [];
  }

  /**
   * Pulls a model, reading the NDJSON progress stream line by line. Resolves on `success`;
   * rejects on an `{"error":…}` line (sent with HTTP 200 once streaming started), on a
   * non-2xx status, on silence longer than pullIdleTimeoutMs, or if the stream ends early.
   */
  async pull(
    model: string,
    onProgress?: (progress: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const idle = new AbortController();
    const idleMs = this.options.pullIdleTimeoutMs ?? 90_000;
    let timer = setTimeout(() => idle.abort(), idleMs);
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), idleMs);
    };
    const combined = signal ? AbortSignal.any([signal, idle.signal]) : idle.signal;
    try {
      const response = await this.fetchImpl(`${this.baseUrl}/api/pull`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, stream: true }),
        signal: combined,
      });
      if (!response.ok || !response.body) {
        throw new OllamaError(
          `pull ${model}: HTTP ${response.status} ${await errorText(response)}`,
          response.status,
        );
      }
      const decoder = new TextDecoder();
      let buffered = "";
      const handleLine = (line: string): boolean => {
        if (line.trim() === "") return false;
        let message: PullProgress & { error?: string };
        try {
          message = JSON.parse(line);
        } catch {
          throw new OllamaError(`pull ${model}: unreadable progress line`);
        }
        if (message.error) throw new OllamaError(`pull ${model}: ${message.error}`, 200);
        onProgress?.(message);
        return message.status === "success";
      };
      for await (const chunk of response.body) {
        touch();
        buffered += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf("\n")) !== -1) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (handleLine(line)) return;
        }
        if (buffered.length > MAX_LINE_BYTES) {
          throw new OllamaError(
            `pull ${model}: a progress line longer than ${MAX_LINE_BYTES} bytes`,
          );
        }
      }
      if (handleLine(buffered + decoder.decode())) return;
      throw new OllamaError(`pull ${model}: stream ended before success`);
    } catch (error) {
      if (error instanceof OllamaError) throw error;
      if (idle.signal.aborted && !signal?.aborted) {
        throw new OllamaError(`pull ${model}: no progress for ${idleMs} ms`);
      }
      if (signal?.aborted) throw error;
      throw new OllamaError(`pull ${model}: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        headers: { accept: "application/json" },
        signal: withTimeout(this.options.timeoutMs ?? 10_000, signal),
      });
    } catch (error) {
      throw new OllamaError(`GET ${path}: ${(error as Error).message}`);
    }
    if (!response.ok) {
      throw new OllamaError(
        `GET ${path}: HTTP ${response.status} ${await errorText(response)}`,
        response.status,
      );
    }
    try {
      return JSON.parse(
        await BoundedBody.of(response, { maxBytes: MAX_JSON_BYTES }).text(),
      ) as T;
    } catch (error) {
      throw new OllamaError(`GET ${path}: ${(error as Error).message}`);
    }
  }
}

function withTimeout(ms: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

async function errorText(response: Response): Promise<string> {
  const text = await BoundedBody.of(response, { maxBytes: MAX_TEXT_BYTES }).text().catch(() => "");
  try {
    const body = JSON.parse(text);
    return typeof body.error === "string" ? body.error : body.error?.message ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
