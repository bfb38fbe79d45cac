import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../common/api-error.ts";

const rawBodies = new WeakMap<object, Buffer>();

/**
 * Keeps the exact request bytes of the given routes (Stripe signs the raw body, and a JSON
 * round trip would change it). Only those routes pay for the copy; the body is then parsed as
 * usual from the same bytes.
 */
export function captureRawBody(
  fastify: FastifyInstance,
  paths: string[],
  limitBytes: number,
): void {
  const wanted = new Set(paths);
  fastify.addHook("preParsing", async (request, _reply, payload) => {
    if (!wanted.has(request.url.split("?")[0])) return payload;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk as Buffer;
      size += bytes.length;
      if (size > limitBytes) {
        throw new ApiError(413, "Request body too large.", { code: "payload_too_large" });
      }
      chunks.push(bytes);
    }
    const raw = Buffer.concat(chunks);
    rawBodies.set(request, raw);
    const replacement = Readable.from([raw]) as Readable & { receivedEncodedLength?: number };
    replacement.receivedEncodedLength = raw.length;
    return replacement;
  });
}

/** The bytes captured for this request, if its route asked for them. */
export function rawBodyOf(request: FastifyRequest): Buffer | undefined {
  return rawBodies.get(request);
}
