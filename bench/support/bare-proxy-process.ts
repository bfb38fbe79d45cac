/**
 * A proxy with no logic at all, for the gateway benchmark's floor: every POST is forwarded to
 * BENCH_UPSTREAM_URL + "/chat/completions" with `fetch` and the answer relayed whole (an SSE
 * stream chunk by chunk, as it arrives). It shows
 * what one extra process hop costs on the machine, so the gateway's own cost can be told apart.
 * BENCH_PROXY_SERVER picks the HTTP server: "node-http" (what Fastify, and so the gateway, runs
 * on under Deno) or "deno-serve" (Deno's native server, the fastest there is here). Prints one
 * JSON line `{"baseUrl": …, "pid": …}` when listening; exits when stdin closes.
 */
import { Buffer } from "node:buffer";
import { createServer } from "node:http";
import process from "node:process";

const target = `${process.env.BENCH_UPSTREAM_URL}/chat/completions`;
const forward = (body: BodyInit) =>
  fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
const ready = (port: number) =>
  process.stdout.write(
    `${JSON.stringify({ baseUrl: `http://127.0.0.1:${port}`, pid: process.pid })}\n`,
  );

let close: () => void;
if (process.env.BENCH_PROXY_SERVER === "deno-serve") {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => ready(port) },
    async (request) => {
      const answer = await forward(await request.arrayBuffer());
      const type = answer.headers.get("content-type") ?? "";
      // Streams are relayed as they arrive, as the gateway relays them.
      if (type.includes("text/event-stream")) {
        return new Response(answer.body, {
          status: answer.status,
          headers: { "content-type": type },
        });
      }
      return new Response(await answer.text(), {
        status: answer.status,
        headers: { "content-type": "application/json" },
      });
    },
  );
  close = () => void server.shutdown();
} else {
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const answer = await forward(Buffer.concat(chunks));
    const type = answer.headers.get("content-type") ?? "";
    if (type.includes("text/event-stream") && answer.body) {
      response.writeHead(answer.status, { "content-type": type });
      for await (const chunk of answer.body) response.write(chunk);
      return response.end();
    }
    const text = await answer.text();
    response.writeHead(answer.status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    response.end(text);
  });
  server.listen(0, "127.0.0.1", () => ready((server.address() as { port: number }).port));
  close = () => server.close();
}

process.stdin.on("data", () => undefined);
process.stdin.on("end", () => {
  close();
  process.exit(0);
});
