import process from "node:process";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/config.ts";
const marks = new WeakMap<object, Array<[string, number]>>();
const gaps = new Map<string, number[]>();
(globalThis as any).__mark = (req: any, name: string) => {
  const key = req.raw ?? req; let list = marks.get(key); if (!list) marks.set(key, list = []);
  list.push([name, performance.now()]);
};
(globalThis as any).__done = (req: any) => {
  const list = marks.get(req.raw ?? req); if (!list || !list.some(([n]) => n === "d_execute")) return;
  for (let i = 1; i < list.length; i++) { const k = `${list[i-1][0]}->${list[i][0]}`; let g = gaps.get(k); if (!g) gaps.set(k, g = []); g.push(list[i][1] - list[i-1][1]); }
};
const config = loadConfig(process.env);
const app = await createApp(config);
await app.listen({ port: config.port, host: config.host });
process.once("SIGTERM", async () => {
  const out: Record<string, unknown> = {};
  for (const [k, g] of gaps) { g.sort((a, b) => a - b); out[k] = { n: g.length, p50: +g[g.length >> 1].toFixed(3), p90: +g[Math.floor(g.length * .9)].toFixed(3), p99: +g[Math.floor(g.length * .99)].toFixed(3) }; }
  console.error(JSON.stringify(out, null, 1));
  await app.close();
  process.exit(0);
});
