// Scratch (delete): time res.end in plain node:http vs fastify
import { createServer } from "node:http";
import Fastify from "fastify";
const body = JSON.stringify({ id: "chatcmpl-1", object: "chat.completion", created: 1, model: "bench", choices: [{ index: 0, message: { role: "assistant", content: "Hello there, this is a short benchmark answer." }, finish_reason: "stop" }], usage: { prompt_tokens: 6, completion_tokens: 9, total_tokens: 15 }, x_modelpilot: { deployment_id: "dep_x", model_identifier: "Qwen/Qwen3-8B", response_time_ms: 21, direct_endpoint: "http://127.0.0.1:1/v1" } });
const t: number[] = [];
const kind = Deno.args[0];
if (kind === "node") {
  createServer((req, res) => { req.resume(); req.on("end", () => { res.writeHead(200, { "content-type": "application/json" }); const s = performance.now(); res.end(body); t.push(performance.now() - s); }); }).listen(18090, "127.0.0.1");
} else {
  const f = Fastify();
  f.post("/x", (req, reply) => { const s = performance.now(); reply.code(200).header("content-type", "application/json").send(body); t.push(performance.now() - s); });
  await f.listen({ port: 18090, host: "127.0.0.1" });
}
Deno.addSignalListener("SIGTERM", () => { t.sort((a, b) => a - b); console.log(kind, t.length, "end p50", t[t.length >> 1].toFixed(3), "p90", t[Math.floor(t.length*.9)].toFixed(3)); Deno.exit(0); });
