import { Buffer } from "node:buffer";

/** Embeddings as the client asked (openai-compat.md 2, gateway rule 7): little-endian float32 base64 or numbers. */
export function encodeEmbedding(embedding: unknown, format: "float" | "base64"): unknown {
  if (format === "base64" && Array.isArray(embedding)) {
    const floats = Float32Array.from(embedding as number[]);
    return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString("base64");
  }
  if (format === "float" && typeof embedding === "string") {
    const bytes = Buffer.from(embedding, "base64");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: number[] = new Array(Math.floor(bytes.byteLength / 4));
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  return embedding;
}
