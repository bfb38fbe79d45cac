import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LedgerService } from "../../src/billing/ledger.service.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { JobCommandHandler } from "../../src/generation/job.handler.ts";
import { parsePng, parseWav } from "../support/media.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import { fundedAccount } from "../support/accounts.ts";
import { api, type TestApp } from "../support/test-app.ts";
import {
  decode,
  gateway,
  makeCold,
  pollUntilDone,
  simulator,
  transactions,
} from "./support/generation.ts";

describe("jobs in flight across restarts and instances", () => {
  let sim: RunpodSimulator;
  let dataDir: string;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    sim = await simulator();
    dataDir = mkdtempSync(join(tmpdir(), "modelpilot-generation-"));
  });

  afterAll(async () => {
    for (const app of apps) await app.close({ keepData: true }).catch(() => undefined);
    await sim?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = async (instance: string) => {
    const app = await gateway(sim, { dataDir, env: { INSTANCE_ID: instance } });
    apps.push(app);
    return app;
  };

  async function jobEvents(app: TestApp, jobId: string) {
    const store = app.app.get<EventStore>(EVENT_STORE);
    return (await store.readStream(`job-${jobId}`)).map((event) => event.type);
  }

  it("completes and charges once the jobs that were in flight when the gateway stopped", async () => {
    const first = await start("restart-1");
    const { key } = await fundedAccount(first.url, "restart@example.com", 5);
    makeCold(sim, "flux-dev", 1_500);
    makeCold(sim, "kokoro", 1_500);
    const [image, audio, video] = await Promise.all([
      api(first.url, "POST", "/api/v1/generate/image", {
        token: key,
        body: { model: "flux-dev", prompt: "across a restart", width: 384, height: 256 },
      }),
      api(first.url, "POST", "/api/v1/generate/audio", {
        token: key,
        body: { model: "kokoro", text: "restart" },
      }),
      api(first.url, "POST", "/api/v1/generate/video", {
        token: key,
        body: { model: "wan-t2v", prompt: "x", duration: 1 },
      }),
    ]);
    for (const response of [image, audio]) expect(response.body.status).toBe("processing");
    expect(video.body.status).toBe("processing");
    await first.close({ keepData: true });
    apps.splice(apps.indexOf(first), 1);

    // While the gateway is down RunPod finishes the jobs.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const second = await start("restart-1");
    const doneImage = await pollUntilDone(second.url, key, image.body.poll_url);
    expect(doneImage.body.status).toBe("completed");
    expect(parsePng(decode(doneImage.body.images[0].base64))).toMatchObject({
      width: 384,
      height: 256,
    });
    const doneAudio = await pollUntilDone(second.url, key, audio.body.poll_url);
    expect(parseWav(decode(doneAudio.body.audio)).sampleRate).toBe(24000);
    const doneVideo = await pollUntilDone(second.url, key, video.body.poll_url);
    expect(doneVideo.body.status).toBe("COMPLETED");

    await new Promise((resolve) => setTimeout(resolve, 200));
    const charges = (await transactions(second.url, key)).filter((row) =>
      String(row.reference).startsWith("job:")
    );
    expect(charges.map((row) => row.reference).sort()).toEqual(
      [image.body.id, audio.body.id, video.body.id].map((id) => `job:${id}`).sort(),
    );
    expect(charges.map((row) => row.amount_usd).sort()).toEqual([-0.3, -0.02, -0.002].sort());
    for (const id of [image.body.id, audio.body.id, video.body.id]) {
      expect(await jobEvents(second, id)).toEqual(["JobSubmitted", "JobCompleted"]);
    }
    await second.close({ keepData: true });
    apps.splice(apps.indexOf(second), 1);
  });

  it("lets only one of two instances complete a job, which is charged once", async () => {
    const one = await start("instance-a");
    const two = await start("instance-b");
    const { key } = await fundedAccount(one.url, "twins@example.com", 5);
    const ids: string[] = [];
    for (const model of ["flux-dev", "zimage", "sdxl"]) makeCold(sim, model, 1_200);
    const responses = await Promise.all(
      ["flux-dev", "zimage", "sdxl"].map((model) =>
        api(one.url, "POST", "/api/v1/generate/image", {
          token: key,
          body: { model, prompt: "twins", width: 512, height: 512 },
        })
      ),
    );
    for (const response of responses) {
      expect(response.body.status).toBe("processing");
      ids.push(response.body.id);
    }
    // Both instances poll the same open jobs; each answers status from its own projection.
    for (const id of ids) {
      const onTwo = await pollUntilDone(two.url, key, `/api/v1/generate/image/status/${id}`);
      expect(onTwo.body.status).toBe("completed");
      const onOne = await pollUntilDone(one.url, key, `/api/v1/generate/image/status/${id}`);
      expect(onOne.body.status).toBe("completed");
      expect(await jobEvents(one, id)).toEqual(["JobSubmitted", "JobCompleted"]);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const charges = (await transactions(two.url, key)).filter((row) =>
      String(row.reference).startsWith("job:")
    );
    expect(charges.map((row) => row.reference).sort()).toEqual(ids.map((id) => `job:${id}`).sort());
  });

  it("finishes the billing of a job whose instance stopped between completing and settling it", async () => {
    const app = await start("billing-gap");
    const { accountId, key } = await fundedAccount(app.url, "gap@example.com", 1);
    const ledger = app.app.get(LedgerService);
    const jobs = app.app.get(JobCommandHandler);
    const at = new Date().toISOString();
    // What an instance had written when it died: the hold and the job's events, no settle.
    for (
      const [jobId, ending] of [["gen_gapcompleted", "CompleteJob"], [
        "gen_gapfailed",
        "FailJob",
      ]] as const
    ) {
      await ledger.reserve(accountId, {
        reservationId: jobId,
        amountMicros: 8_000,
        reference: `job:${jobId}`,
      });
      await jobs.execute(jobId, [
        {
          type: "SubmitJob",
          data: {
            jobId,
            accountId,
            kind: "text",
            model: "qwen3-8b",
            endpointId: "qwen3-8b",
            runpodJobId: `sync-${jobId}`,
            mode: "runsync",
            priceMicros: 8_000,
            estimatedTimeMs: 1_000,
            parameters: {},
            at,
          },
        },
        ending === "CompleteJob"
          ? {
            type: "CompleteJob",
            data: {
              jobId,
              runpodJobId: `sync-${jobId}`,
              outputs: [],
              text: "hi",
              executionTimeMs: 1,
              delayTimeMs: 0,
              at,
            },
          }
          : {
            type: "FailJob",
            data: { jobId, runpodJobId: `sync-${jobId}`, reason: "FAILED", error: "x", at },
          },
      ], { accountId });
    }
    const deadline = Date.now() + 5_000;
    let balance: any;
    do {
      await new Promise((resolve) => setTimeout(resolve, 50));
      balance = (await api(app.url, "GET", "/api/billing/balance", { token: key })).body;
    } while (balance.available_usd !== balance.balance_usd && Date.now() < deadline);
    expect(balance).toMatchObject({ balance_usd: 0.992, available_usd: 0.992 });
    const charges = (await transactions(app.url, key)).filter((row) =>
      String(row.reference).startsWith("job:")
    );
    expect(charges.map((row) => [row.reference, row.amount_usd])).toEqual([[
      "job:gen_gapcompleted",
      -0.008,
    ]]);
  });
});
