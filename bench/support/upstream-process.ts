/**
 * The benchmark's upstream in a process of its own: `startLocalUpstream("vllm")` answering after
 * BENCH_UPSTREAM_LATENCY_MS (default 20). Prints one JSON line `{"baseUrl": …}` when listening,
 * then answers control lines on stdin, one JSON object each, with one JSON line on stdout:
 * - `{"knobs": {...}}` changes the upstream's knobs (e.g. token delay for the stream phase);
 * - `{"stats": true}` returns the open and the peak number of concurrent streams.
 * Exits when stdin closes, so it never outlives the benchmark.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { startLocalUpstream } from "../../test/support/upstreams/openai-upstream.ts";

const upstream = await startLocalUpstream("vllm", {
  latencyMs: Number(process.env.BENCH_UPSTREAM_LATENCY_MS ?? 20),
  replyText: "Hello there, this is a short benchmark answer.",
});

// The upstream counts open streams; a setter records the peak exactly, without polling.
let open = 0;
let peakOpen = 0;
Object.defineProperty(upstream, "openStreams", {
  get: () => open,
  set: (value: number) => {
    open = value;
    if (open > peakOpen) peakOpen = open;
  },
});

const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
reply({ baseUrl: upstream.baseUrl, pid: process.pid });

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line) as { knobs?: Record<string, unknown>; stats?: boolean };
  if (command.knobs) Object.assign(upstream.knobs, command.knobs);
  if (command.stats) {
    return reply({ openStreams: open, peakOpenStreams: peakOpen });
  }
  reply({ ok: true });
});
lines.on("close", async () => {
  await upstream.close();
  process.exit(0);
});
