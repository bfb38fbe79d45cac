/**
 * The realtime benchmark's upstream in a process of its own: the local realtime upstream
 * (test/support/upstreams/realtime-upstream.ts), keyless. Prints one JSON line
 * `{"baseUrl": …, "pid": …}` when listening, then answers control lines on stdin, one JSON
 * object each, with one JSON line on stdout:
 * - `{"knobs": {...}}` changes its knobs (e.g. the delay between deltas);
 * - `{"stats": true}` returns the sessions open now.
 * Exits when stdin closes, so it never outlives the benchmark.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { startRealtimeUpstream } from "../../test/support/upstreams/realtime-upstream.ts";

const upstream = await startRealtimeUpstream();
const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
reply({ baseUrl: upstream.baseUrl, pid: process.pid });

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line) as { knobs?: Record<string, unknown>; stats?: boolean };
  if (command.knobs) Object.assign(upstream.knobs, command.knobs);
  if (command.stats) return reply({ openSessions: upstream.openSessions() });
  reply({ ok: true });
});
lines.on("close", async () => {
  await upstream.close();
  process.exit(0);
});
