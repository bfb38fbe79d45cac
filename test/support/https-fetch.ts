import { Buffer } from "node:buffer";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";

/**
 * A `fetch` that trusts one extra CA (the test CA), built on node:https: global fetch under
 * jest has no per-call CA option. Enough for the `openai` client (string or byte bodies,
 * streamed answers) and for the specs' own calls.
 */
export function fetchTrusting(ca: string): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init.method ?? (input instanceof Request ? input.method : "GET");
    const headers: Record<string, string> = {};
    new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined)).forEach(
      (value, name) => void (headers[name] = value),
    );
    const body = await bodyBytes(init.body);
    if (body) headers["content-length"] = String(body.length);
    return await new Promise<Response>((resolve, reject) => {
      const outgoing = httpsRequest(url, { method, headers, ca, agent: false }, (answer) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(answer.headers)) {
          for (const one of [value ?? []].flat()) responseHeaders.append(name, one);
        }
        const status = answer.statusCode ?? 0;
        const empty = status === 204 || status === 304 || method === "HEAD";
        resolve(
          new Response(empty ? null : (Readable.toWeb(answer) as ReadableStream<Uint8Array>), {
            status,
            headers: responseHeaders,
          }),
        );
      });
      outgoing.on("error", reject);
      init.signal?.addEventListener("abort", () => outgoing.destroy(new Error("aborted")));
      outgoing.end(body);
    });
  }) as typeof fetch;
}

async function bodyBytes(body: RequestInit["body"]): Promise<Buffer | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  return Buffer.from(await new Response(body).arrayBuffer());
}
