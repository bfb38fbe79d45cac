import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import Stripe from "stripe";
import { startRunpodSimulator } from "../support/runpod-sim/index.ts";
import { seededRandom } from "../support/seeded-random.ts";
import { checkoutSessionCompleted } from "../support/stripe-events.ts";
import { TEST_ADMIN_KEY } from "../support/test-app.ts";
import { GatewayProcess } from "./gateway-process.ts";

/**
 * One seed of the fault schedule (issue 16 §7): a seeded PRNG drives a gateway child process
 * through waves of concurrent chat charges, generation jobs, pod metering and Stripe webhooks
 * (duplicated and reordered), while RunPod answers 5xx, stalls past the upstream timeout and
 * leaves jobs unfinished, the wall clock jumps forward, a projection is rebuilt in the middle
 * of writes, and the process is killed with SIGKILL and started again on the same DATA_DIR.
 * Then the service settles, stops, and `cli verify` must pass. The same seed replays the same
 * schedule; timing inside a wave (what a kill cuts) is the machine's.
 *
 * Over 350 lines on purpose: one seed's whole schedule reads top to bottom in one place.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
const WEBHOOK_SECRET = "whsec_faults_0123456789abcdef";
const RUNPOD_KEY = "sim-runpod-key";
const TTL_SECONDS = 60;
const METERING_INTERVAL_MS = 500;

export interface SeedResult {
  seed: number;
  ok: boolean;
  seconds: number;
  kills: number;
  jumpsMinutes: number;
  actions: Record<string, number>;
  events: number;
  /** verify's report (findings included) when it failed, else a summary. */
  verify: unknown;
  dataDir: string;
}

interface Account {
  id: string;
  key: string;
}

export async function runSeed(
  seed: number,
  options: { waves?: number; keep?: boolean } = {},
): Promise<SeedResult> {
  const started = performance.now();
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const dataDir = mkdtempSync(join(tmpdir(), `modelpilot-faults-${seed}-`));
  const clockFile = join(dataDir, "clock-offset-ms");
  let offsetMs = 0;
  writeFileSync(clockFile, "0");
  const sim = await startRunpodSimulator({ apiKey: RUNPOD_KEY, seed, coldStartMs: 50 });
  const env = {
    DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    FAULT_CLOCK_FILE: clockFile,
    RUNPOD_REST_URL: sim.restUrl,
    RUNPOD_API_URL: sim.serverlessUrl,
    RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
    RUNPOD_API_KEY: RUNPOD_KEY,
    RUNPOD_TIMEOUT_MS: "1500",
    RUNPOD_MAX_RETRIES: "1",
    ALLOW_PRIVATE_UPSTREAMS: "true",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    RESERVATION_TTL_SECONDS: String(TTL_SECONDS),
    METERING_INTERVAL_MS: String(METERING_INTERVAL_MS),
    RECONCILE_INTERVAL_MS: "1000",
    CHARGE_RECONCILE_INTERVAL_MS: "1000",
    JOB_POLL_INTERVAL_MS: "200",
    GENERATION_SYNC_WAIT_MS: "1000",
    UPSTREAM_TOTAL_TIMEOUT_MS: "3000",
    UPSTREAM_IDLE_TIMEOUT_MS: "2000",
    SHUTDOWN_GRACE_MS: "8000",
    RATE_LIMIT_PER_MINUTE: "100000",
    RATE_LIMIT_PER_KEY_PER_MINUTE: "1000000",
    RATE_LIMIT_PER_ACCOUNT_PER_MINUTE: "1000000",
  };
  const gateway = new GatewayProcess(dataDir, env);
  const actions: Record<string, number> = {};
  const count = (name: string) => actions[name] = (actions[name] ?? 0) + 1;
  let kills = 0;
  let ok = false;

  /** Any request may meet a killed process: every failure is an outcome, not an error. */
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    try {
      const response = await fetch(`${gateway.url}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      return { status: response.status, body: (text ? safeJson(text) : null) as any };
    } catch {
      return { status: 0, body: null as any };
    }
  };

  const admin = (method: string, path: string, body?: unknown) =>
    call(method, path, TEST_ADMIN_KEY, body);

  async function account(email: string, usd: number): Promise<Account> {
    const created = await admin("POST", "/admin/accounts", { email });
    const id = created.body.id as string;
    const key = await admin("POST", `/admin/accounts/${id}/api-keys`, {
      name: "faults",
      permissions: ["read", "proxy", "manage"],
    });
    if (usd > 0) {
      await admin("POST", `/admin/accounts/${id}/credits`, { amount_usd: usd, reason: "faults" });
    }
    return { id, key: key.body.key };
  }

  const chat = async (who: Account) => {
    count("chat");
    const stream = random() < 0.3;
    const abortAfter = random() < 0.2 ? between(5, 150) : undefined;
    const controller = new AbortController();
    if (abortAfter !== undefined) setTimeout(() => controller.abort(), abortAfter);
    try {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${who.key}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "qwen3-8b",
          messages: [{ role: "user", content: `fault ${seed} ${random()}` }],
          max_tokens: 8,
          stream,
        }),
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(15_000)]),
      });
      await response.text();
    } catch {
      // Aborted by us, or the process was killed.
    }
  };

  const job = (who: Account) => {
    count("job");
    return random() < 0.5
      ? call("POST", "/api/v1/generate/audio", who.key, { model: "kokoro", text: "fault" })
      : call("POST", "/api/v1/generate/image", who.key, {
        model: pick(["sdxl", "flux-dev"]),
        prompt: "a kite",
        width: 512,
        height: 512,
      });
  };

  let sessions = 0;
  const webhooks = async (who: Account) => {
    count("webhooks");
    // Purchases delivered 1–3 times each, a second event for an already paid session, all
    // shuffled and sent at once: Stripe's at-least-once, unordered delivery.
    const deliveries: object[] = [];
    for (let i = between(1, 2); i > 0; i--) {
      const session = `cs_faults_${seed}_${++sessions}`;
      const event = checkoutSessionCompleted(
        `evt_${session}`,
        session,
        who.id,
        between(500, 2_000),
      );
      for (let copies = between(1, 3); copies > 0; copies--) deliveries.push(event);
      if (random() < 0.3) deliveries.push({ ...event, id: `evt_${session}_again` });
    }
    shuffle(deliveries, random);
    await Promise.all(deliveries.map(async (event) => {
      const body = JSON.stringify(event);
      const signature = await Stripe.webhooks.generateTestHeaderStringAsync({
        payload: body,
        secret: WEBHOOK_SECRET,
        // Signed at the gateway's (jumped) time, as Stripe's clock and the gateway's agree.
        timestamp: Math.floor((Date.now() + offsetMs) / 1000),
      });
      try {
        await fetch(`${gateway.url}/api/billing/stripe/webhook`, {
          method: "POST",
          headers: { "content-type": "application/json", "stripe-signature": signature },
          body,
          signal: AbortSignal.timeout(15_000),
        }).then((response) => response.text());
      } catch {
        // Killed mid-delivery: Stripe would deliver again, and so does a later wave.
      }
    }));
  };

  const rebuild = () => {
    count("rebuild");
    const name = pick([
      "billing-ledger",
      "billing-ledger-history",
      "billing-inference-charges",
      "generation-jobs",
      "deployments",
    ]);
    return admin("POST", `/admin/projections/${name}/rebuild`);
  };

  const jump = () => {
    count("clock_jump");
    offsetMs += between(1, 5) * 60_000;
    writeFileSync(clockFile, String(offsetMs));
  };

  const upstreamFaults = () => {
    const roll = random();
    if (roll < 0.3) {
      count("runpod_5xx");
      sim.failNext("/serverless/", pick([500, 502, 503]), between(1, 3));
    } else if (roll < 0.45) {
      count("runpod_stall");
      sim.stallNext("/serverless/", 4_000, 1);
    } else if (roll < 0.6) {
      count("job_fails");
      sim.knobs.failNextJobs = between(1, 2);
    }
  };

  try {
    await gateway.start();
    const chatter = await account(`chatter-${seed}@faults.test`, 0.3);
    const pauper = await account(`pauper-${seed}@faults.test`, 0.02);
    const buyer = await account(`buyer-${seed}@faults.test`, 0);
    const podder = await account(`podder-${seed}@faults.test`, 2);
    const people = [chatter, pauper, buyer];
    // Jobs that never finish: this seed's sdxl worker runs for ten minutes (RunPod keeps it
    // IN_PROGRESS; the job stays open with its hold, which must neither charge nor vanish).
    if (random() < 0.5) sim.endpoints.get("sdxl")!.executionMs = 10 * 60_000;
    let podId: string | undefined;
    if (random() < 0.7) {
      count("pod");
      const pod = await call("POST", "/api/deployments", podder.key, { model: "mistral" });
      podId = pod.body?.id;
    }

    const waves = options.waves ?? 6;
    for (let wave = 0; wave < waves; wave++) {
      upstreamFaults();
      const work: Promise<unknown>[] = [];
      for (let i = between(2, 5); i > 0; i--) {
        const what = random();
        const who = pick(people);
        if (what < 0.45) work.push(chat(who));
        else if (what < 0.7) work.push(job(who));
        else if (what < 0.85) work.push(webhooks(buyer));
        else if (what < 0.93) work.push(rebuild());
        else jump();
      }
      if (random() < 0.35) {
        // kill -9 while the wave is in flight, then start again on the same files.
        await new Promise((resolve) => setTimeout(resolve, between(0, 400)));
        kills++;
        await gateway.kill9();
        await Promise.allSettled(work);
        await gateway.start();
      } else {
        await Promise.allSettled(work);
      }
    }

    // Settle: no more faults, the pod goes away, time passes beyond every hold's expiry and
    // the settlement grace, and a restart runs every start-up sweep before a graceful stop.
    sim.knobs.failNextJobs = 0;
    if (podId) await call("DELETE", `/api/deployments/${podId}`, podder.key);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    offsetMs += 20 * 60_000;
    writeFileSync(clockFile, String(offsetMs));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await gateway.stop();
    await gateway.start();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await gateway.stop();

    const verify = spawnSync(
      process.execPath,
      ["run", "-A", "src/cli/main.ts", "--json", "verify"],
      {
        cwd: ROOT,
        env: { ...process.env, ...env, LOG_LEVEL: "silent" },
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    const report = safeJson(verify.stdout) as Record<string, any> | null;
    ok = verify.status === 0 && report?.ok === true;
    return {
      seed,
      ok,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      kills,
      jumpsMinutes: offsetMs / 60_000,
      actions,
      events: report?.events ?? 0,
      verify: ok
        ? { invariants: report!.invariants, skipped: report!.skipped }
        : { status: verify.status, stderr: verify.stderr.slice(-2_000), report },
      dataDir,
    };
  } finally {
    gateway.close();
    await sim.close();
    // A failed seed keeps its DATA_DIR (events, gateway.log) for the post-mortem.
    if (ok && !options.keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
