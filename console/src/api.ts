/**
 * The one way the console talks to the gateway: same-origin fetch with the session cookie,
 * the CSRF header on every unsafe method, and errors read from the OpenAI envelope.
 */

export const CSRF_COOKIE = "mp_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  /** The route does not exist on this gateway (an older or partial build). */
  get missingRoute(): boolean {
    return this.status === 404 && this.code === "unknown_url";
  }
}

export function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

export interface RequestOptions {
  body?: unknown;
  /** Bearer credential (the admin key); such requests ignore the cookie on the server. */
  bearer?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** Sends one request; the raw Response on success, an ApiFailure otherwise. */
export async function send(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  if (!["GET", "HEAD", "OPTIONS"].includes(method)) {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new ApiFailure(0, "The gateway could not be reached. Check your connection.");
  }
  if (!response.ok) throw await failureOf(response);
  return response;
}

async function failureOf(response: Response): Promise<ApiFailure> {
  const text = await response.text().catch(() => "");
  try {
    const { error } = JSON.parse(text) as {
      error?: { message?: string; code?: string | null; param?: string | null };
    };
    if (error?.message) {
      return new ApiFailure(response.status, error.message, error.code ?? null, error.param);
    }
  } catch {
    // Not the envelope: fall through to the status line.
  }
  return new ApiFailure(response.status, `The gateway answered ${response.status}.`);
}

/** JSON in, JSON out; 204 answers undefined. */
export async function api<T = any>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  const response = await send(method, path, options);
  if (response.status === 204) return undefined as T;
  return await response.json() as T;
}

export const get = <T = any>(path: string, options?: RequestOptions) =>
  api<T>("GET", path, options);
export const post = <T = any>(path: string, body?: unknown, options?: RequestOptions) =>
  api<T>("POST", path, { ...options, body: body ?? {} });

/** Balances as people read them: "$7.50"; amounts under a cent keep their digits ("$0.008"). */
export function dollars(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const sign = value < 0 ? "-" : "";
  const absolute = Math.abs(value);
  const digits = absolute !== 0 && absolute < 0.01 ? 6 : 2;
  let text = absolute.toFixed(digits);
  if (digits > 2) text = text.replace(/0+$/, "");
  const [whole, fraction] = text.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}$${grouped}.${fraction}`;
}

/** A timestamp in the reader's locale, or a dash. */
export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiFailure) return error.message;
  return error instanceof Error ? error.message : String(error);
}
