/**
 * Generation benchmark: `npm run bench:generation`. Prints ONE JSON object.
 *
 * Against the RunPod simulator with instant workers (no cold start, 0 ms execution):
 * - sync_jobs_per_s: warm image/audio jobs submitted and completed in-line (reserve → /runsync
 *   → store artifact → JobSubmitted+JobCompleted → settle), BENCH_CONCURRENCY clients;
 * - async_jobs: video jobs submitted with /run (submit rate) and completed by the background
 *   poller (completion rate, from the first submit to the last completion seen by a poll);
 * - status polls of completed jobs answered from the projection (video: the artifact URL; audio:
 *   the WAV read back from the artifact store, base64) and how many RunPod /status calls they caused;
 * - submit latency: sequential kokoro jobs through the gateway vs the same input sent straight
 *   to the simulator's /runsync; overhead = gateway percentile - direct percentile.
 *
 * Options (environment): BENCH_JOBS (default 400), BENCH_CONCURRENCY (default 16),
 * BENCH_POLLS (default 4000), BENCH_LATENCY_SAMPLES (default 300).
 */
import process from "node:process";
import { fundedAccount } from "../test/support/accounts.ts";
import { startRunpodSimulator } from "../test/support/runpod-sim/index.ts";
import { startTestApp } from "../test/support/test-app.ts";

const JOBS = Number(process.env.BENCH_JOBS ?? 400);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const POLLS = Number(process.env.BENCH_POLLS ?? 4_000);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 300);
const SIM_KEY = "bench-sim-key-0123456789";

const sim = await startRunpodSimulator({
  apiKey: SIM_KEY,
  coldStartMs: 0,
  executionMs: 0,
  idleTimeoutMs: 3_600_000,
  // The gateway's /runsync calls are the bench; keep the sim's retention out of the way.
  runsyncRetentionMs: 3_600_000,
});
const gateway = await startTestApp({
  env: {
    RUNPOD_API_URL: sim.serverlessUrl,
    RUNPOD_REST_URL: sim.restUrl,
    RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
    RUNPOD_API_KEY: SIM_KEY,
    GENERATION_SYNC_WAIT_MS: "30000",
    JOB_POLL_INTERVAL_MS: "50",
  },
});

async function post(path: string, token: string, body: unknown): Promise<any> {
  const response = await fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (response.status !== 200) {
    throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  }
  return json;
}

async function get(path: string, token: string): Promise<any> {
  const response = await fetch(`${gateway.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const json = await response.json();
  if (response.status !== 200) {
    throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  }
  return json;
}

async function pool<T>(
  count: number,
  concurrency: number,
  work: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await work(index);
    }
  }));
  return results;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

try {
  const account = await fundedAccount(gateway.url, "bench@example.com", 100_000);
  const token = account.key;

  // Warm every endpoint once.
  await post("/api/v1/generate/audio", token, { model: "kokoro", text: "warm up" });
  await post("/api/v1/generate/image", token, {
    model: "flux-dev",
    prompt: "warm",
    width: 256,
    height: 256,
  });

  // 1. Synchronous jobs, half audio and half small images.
  let started = performance.now();
  const syncJobs = await pool(
    JOBS,
    CONCURRENCY,
    (index) =>
      index % 2 === 0
        ? post("/api/v1/generate/audio", token, {
          model: "kokoro",
          text: `Sentence number ${index}.`,
        })
        : post("/api/v1/generate/image", token, {
          model: "flux-dev",
          prompt: `p${index}`,
          width: 256,
          height: 256,
        }),
  );
  const syncSeconds = (performance.now() - started) / 1000;
  const syncCompleted = syncJobs.filter((job) =>
    job.cost !== undefined && job.status === undefined
  ).length;

  // 2. Asynchronous (video) jobs: submit rate, and completion through the poller.
  const videoCount = Math.max(20, Math.floor(JOBS / 4));
  started = performance.now();
  const videos = await pool(videoCount, CONCURRENCY, (index) =>
    post("/api/v1/generate/video", token, {
      model: "wan-t2v",
      prompt: `v${index}`,
      duration: 1,
      size: "320*240",
    }));
  const submitSeconds = (performance.now() - started) / 1000;
  const pending = new Set(videos.map((video) =>
    video.id as string
  ));
  while (pending.size > 0) {
    const page = await get("/api/jobs?kind=video&status=completed&limit=100", token);
    for (const job of page.data) {
      pending.delete(job.id);
    }
    if (pending.size > 0) {
      for (const id of [...pending]) {
        const status = await get(`/api/v1/generate/video/status/${id}`, token);
        if (status.status === "COMPLETED") {
          pending.delete(id);
        }
      }
    }
    if (performance.now() - started > 120_000) {
      throw new Error(`${pending.size} videos never completed`);
    }
  }
  const asyncSeconds = (performance.now() - started) / 1000;

  // 3. Status polls of completed jobs, answered from the projection.
  const audioIds = syncJobs.filter((_, index) =>
    index % 2 === 0
  ).map((job) => job.id as string);
  const statusCallsBefore = sim.requests.filter((request) =>
    request.path.includes("/status/")
  ).length;
  started = performance.now();
  await pool(
    POLLS,
    32,
    (index) => get(`/api/v1/generate/audio/status/${audioIds[index % audioIds.length]}`, token),
  );
  const audioSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  await pool(
    POLLS,
    32,
    (index) => get(`/api/v1/generate/video/status/${videos[index % videos.length].id}`, token),
  );
  const pollSeconds = (performance.now() - started) / 1000;
  const runpodStatusCalls =
    sim.requests.filter((request) => request.path.includes("/status/")).length -
    statusCallsBefore;

  // 4. Submit latency: gateway vs a direct /runsync with the same worker input.
  const gatewayMs: number[] = [];
  const directMs: number[] = [];
  for (let index = 0; index < LATENCY_SAMPLES; index++) {
    const text = `Latency sample ${index}.`;
    let t0 = performance.now();
    const response = await fetch(`${sim.serverlessUrl}/kokoro/runsync?wait=30000`, {
      method: "POST",
      headers: { authorization: `Bearer ${SIM_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ input: { text, voice: "af_heart", speed: 1 } }),
    });
    await response.json();
    directMs.push(performance.now() - t0);
    t0 = performance.now();
    await post("/api/v1/generate/audio", token, { model: "kokoro", text });
    gatewayMs.push(performance.now() - t0);
  }
  gatewayMs.sort((a, b) => a - b);
  directMs.sort((a, b) => a - b);

  console.log(JSON.stringify(
    {
      bench: "generation",
      simulator: { cold_start_ms: 0, execution_ms: 0 },
      sync_jobs: {
        jobs: JOBS,
        completed_in_line: syncCompleted,
        concurrency: CONCURRENCY,
        seconds: round(syncSeconds),
        jobs_per_s_submitted_and_completed: round(JOBS / syncSeconds, 1),
      },
      async_video_jobs: {
        jobs: videoCount,
        submitted_per_s: round(videoCount / submitSeconds, 1),
        completed_per_s: round(videoCount / asyncSeconds, 1),
        poll_interval_ms: 50,
      },
      status_polls: {
        polls: POLLS,
        concurrency: 32,
        video_status_polls_per_s: round(POLLS / pollSeconds, 0),
        audio_status_polls_per_s_with_wav_body: round(POLLS / audioSeconds, 0),
        runpod_status_calls_during_polls: runpodStatusCalls,
      },
      submit_latency_ms: {
        samples: LATENCY_SAMPLES,
        direct_runsync: {
          p50: round(percentile(directMs, 50)),
          p99: round(percentile(directMs, 99)),
        },
        gateway: { p50: round(percentile(gatewayMs, 50)), p99: round(percentile(gatewayMs, 99)) },
        overhead: {
          p50: round(percentile(gatewayMs, 50) - percentile(directMs, 50)),
          p99: round(percentile(gatewayMs, 99) - percentile(directMs, 99)),
        },
      },
    },
    null,
    2,
  ));
} finally {
  // A bench must stop by itself: close what it started, but never wait on it for more than 5 s.
  await Promise.race([
    Promise.allSettled([gateway.close(), sim.close()]),
    new Promise((resolve) => setTimeout(resolve, 5_000)),
  ]);
  process.exit(0);
}
