import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import { parseMp4, parsePng, parseWav } from "../support/media.ts";
import { fundedAccount } from "../support/accounts.ts";
import { api, type TestApp } from "../support/test-app.ts";
import {
  balance,
  decode,
  download,
  gateway,
  makeCold,
  makeWarm,
  pollUntilDone,
  simulator,
  transactions,
} from "./support/generation.ts";

/** Absolute, on the gateway's own origin, signed and expiring. */
const SIGNED_ARTIFACT_URL =
  /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/artifacts\/[^?]+\?expires=\d+&signature=[\w-]{43}$/;

const PRICES: Record<string, number> = {
  "flux-schnell": 0.008,
  "flux-dev": 0.02,
  sdxl: 0.005,
  zimage: 0.008,
  kokoro: 0.002,
  chatterbox: 0.005,
  "wan-t2v": 0.3,
  "qwen3-8b": 0.01,
};

describe("pay-per-request generation", () => {
  let sim: RunpodSimulator;
  let gw: TestApp;
  let token: string;
  const completed: Array<{ id: string; model: string }> = [];
  const unpaid: string[] = [];

  const post = (kind: string, body: unknown, key = token) =>
    api(gw.url, "POST", `/api/v1/generate/${kind}`, { token: key, body });

  beforeAll(async () => {
    sim = await simulator();
    gw = await gateway(sim);
    token = (await fundedAccount(gw.url, "gen@example.com", 10)).key;
  });

  afterAll(async () => {
    await gw?.close();
    await sim?.close();
  });

  describe("warm workers answer synchronously", () => {
    it.each([
      ["flux-schnell", 512, 768],
      ["flux-dev", 768, 512],
      ["sdxl", 1024, 1024],
      ["zimage", 1792, 1024],
    ])("returns a %s PNG of %ix%i in-line and charges it once", async (model, width, height) => {
      const body: Record<string, unknown> = { model, prompt: "a red fox in the snow", seed: 7 };
      if (width !== 1024 || height !== 1024) Object.assign(body, { width, height });
      const response = await post("image", body);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        id: expect.stringMatching(/^gen_/),
        model,
        // A signed link to the same PNG, so an <img src> needs no Authorization header.
        images: [{
          base64: expect.any(String),
          filename: expect.stringMatching(/\.png$/),
          url: expect.stringMatching(SIGNED_ARTIFACT_URL),
        }],
        cost: PRICES[model],
        execution_time_ms: expect.any(Number),
      });
      expect(parsePng(decode(response.body.images[0].base64))).toMatchObject({ width, height });
      completed.push({ id: response.body.id, model });
    });

    it("speaks kokoro with the default voice as a 24 kHz WAV of the text's length", async () => {
      const text = "Hello, welcome to ModelPilot. ".repeat(3);
      const response = await post("audio", { model: "kokoro", text, speed: 1.5 });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        id: expect.stringMatching(/^gen_/),
        model: "kokoro",
        audio: expect.any(String),
        format: "wav",
        sample_rate: 24000,
        audio_url: expect.stringMatching(SIGNED_ARTIFACT_URL),
        cost: 0.002,
        execution_time_ms: expect.any(Number),
      });
      const wav = parseWav(decode(response.body.audio));
      expect(wav.sampleRate).toBe(24000);
      expect(wav.durationSeconds).toBeCloseTo(text.length / 15 / 1.5, 1);
      const job = sim.jobs().find((candidate) => (candidate.input as any)?.text === text);
      expect(job?.input).toEqual({ text, voice: "af_heart", speed: 1.5 });
      completed.push({ id: response.body.id, model: "kokoro" });
    });

    it("speaks chatterbox", async () => {
      const response = await post("audio", { model: "chatterbox", text: "Short line." });
      expect(response.status).toBe(200);
      expect(parseWav(decode(response.body.audio)).sampleRate).toBe(24000);
      completed.push({ id: response.body.id, model: "chatterbox" });
    });

    it("completes a text prompt with qwen3-8b", async () => {
      const response = await post("text", {
        model: "qwen3-8b",
        prompt: "Say hello",
        max_tokens: 16,
      });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ model: "qwen3-8b", cost: 0.01 });
      expect(typeof response.body.text).toBe("string");
      expect(response.body.text.length).toBeGreaterThan(0);
      completed.push({ id: response.body.id, model: "qwen3-8b" });
    });
  });

  describe("cold workers answer with a poll_url", () => {
    it.each([
      ["image", { model: "flux-dev", prompt: "a lighthouse", width: 640, height: 384 }],
      ["image", { model: "flux-schnell", prompt: "a lighthouse", width: 320, height: 256 }],
      ["audio", { model: "kokoro", text: "Cold start speech.", voice: "af_bella" }],
      ["text", { model: "qwen3-8b", prompt: "Cold hello" }],
    ])("%s %j: processing, then completed from the projection", async (kind, body) => {
      const model = (body as { model: string }).model;
      makeCold(sim, model);
      try {
        const response = await post(kind, body);
        expect(response.status).toBe(200);
        expect(response.body).toEqual({
          id: expect.any(String),
          model,
          status: "processing",
          job_id: response.body.id,
          endpoint_id: model,
          poll_url:
            `/api/v1/generate/${kind}/status/${response.body.id}?endpoint_id=${model}&model=${model}`,
          message: expect.stringContaining("Cold start"),
          estimated_time_ms: expect.any(Number),
        });
        // The bare job id is enough too.
        const bare = await api(
          gw.url,
          "GET",
          `/api/v1/generate/${kind}/status/${response.body.id}`,
          { token },
        );
        expect(bare.body.status).toBe("processing");

        const done = await pollUntilDone(gw.url, token, response.body.poll_url);
        expect(done.status).toBe(200);
        expect(done.body).toMatchObject({
          status: "completed",
          id: response.body.id,
          cost: PRICES[model],
        });
        if (kind === "image") {
          const png = parsePng(decode(done.body.images[0].base64));
          expect(png).toMatchObject({ width: (body as any).width, height: (body as any).height });
        } else if (kind === "audio") {
          expect(parseWav(decode(done.body.audio)).sampleRate).toBe(24000);
        } else expect(done.body.text.length).toBeGreaterThan(0);
        completed.push({ id: response.body.id, model });
      } finally {
        makeWarm(sim, model);
      }
    });

    it("is found by RunPod's job id as well", async () => {
      makeCold(sim, "sdxl");
      try {
        const response = await post("image", {
          model: "sdxl",
          prompt: "x",
          width: 512,
          height: 520,
        });
        expect(response.body.status).toBe("processing");
        const job = await api(gw.url, "GET", `/api/jobs/${response.body.id}`, { token });
        expect(job.body.runpod_job_id).toMatch(/^sync-/);
        const byRunpod = await pollUntilDone(
          gw.url,
          token,
          `/api/v1/generate/image/status/${job.body.runpod_job_id}`,
        );
        expect(byRunpod.body).toMatchObject({ id: response.body.id, status: "completed" });
        expect(parsePng(decode(byRunpod.body.images[0].base64))).toMatchObject({
          width: 512,
          height: 520,
        });
        completed.push({ id: response.body.id, model: "sdxl" });
      } finally {
        makeWarm(sim, "sdxl");
      }
    });
  });

  describe("video is asynchronous", () => {
    it("submits with /run, then serves the MP4 of the asked length as an artifact", async () => {
      const runsBefore = sim.requests.filter((r) => r.path.includes("/wan-t2v/run")).length;
      const response = await post("video", {
        model: "wan-t2v",
        prompt: "a sunset over the ocean",
        duration: 2,
      });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        id: expect.stringMatching(/^vid_/),
        model: "wan-t2v",
        status: "processing",
        job_id: response.body.id,
        endpoint_id: "wan-t2v",
        poll_url: expect.stringContaining(`/api/v1/generate/video/status/${response.body.id}`),
        message: expect.any(String),
        estimated_time_ms: 120000,
        cost: 0.3,
      });
      const runs = sim.requests.filter((r) => r.path.includes("/wan-t2v/run"));
      expect(runs.length).toBe(runsBefore + 1);
      expect(runs[runs.length - 1].path).not.toContain("runsync");

      const done = await pollUntilDone(gw.url, token, response.body.poll_url);
      expect(done.body).toMatchObject({
        status: "COMPLETED",
        videos: [{ url: expect.stringMatching(/\/api\/v1\/artifacts\//) }],
        execution_time_ms: expect.any(Number),
        cost: 0.3,
      });
      const path = new URL(done.body.videos[0].url).pathname;
      const file = await download(gw.url, token, path);
      expect(file.status).toBe(200);
      expect(file.contentType).toBe("video/mp4");
      expect(parseMp4(file.data).durationSeconds).toBeCloseTo(2, 1);
      completed.push({ id: response.body.id, model: "wan-t2v" });

      // Artifacts are private to their account and need a key.
      const stranger = await fundedAccount(gw.url, "stranger@example.com", 0);
      expect((await download(gw.url, stranger.key, path)).status).toBe(404);
      expect((await fetch(`${gw.url}${path}`)).status).toBe(401);
      // And the events carry references and sizes, never the payload.
      const job = await api(gw.url, "GET", `/api/jobs/${response.body.id}`, { token });
      expect(job.body.outputs[0]).toMatchObject({
        content_type: "video/mp4",
        bytes: file.data.length,
      });
    });
  });

  describe("failures, timeouts and cancellation are never paid for", () => {
    it("answers a failed warm job with a 502 envelope and releases the hold", async () => {
      const before = await balance(gw.url, token);
      sim.knobs.failNextJobs = 1;
      const response = await post("image", { model: "flux-dev", prompt: "will fail" });
      expect(response.status).toBe(502);
      expect(response.body.error).toMatchObject({ type: "api_error", code: "generation_failed" });
      unpaid.push(response.body.job_id);
      const after = await balance(gw.url, token);
      expect(after).toEqual(before);
      const job = await api(gw.url, "GET", `/api/jobs/${response.body.job_id}`, { token });
      expect(job.body).toMatchObject({ status: "failed", failure_reason: "FAILED", cost: 0 });
    });

    it("reports a cold job that fails as failed, uncharged", async () => {
      makeCold(sim, "zimage");
      sim.knobs.failNextJobs = 1;
      try {
        const response = await post("image", { model: "zimage", prompt: "cold failure" });
        expect(response.body.status).toBe("processing");
        const done = await pollUntilDone(gw.url, token, response.body.poll_url);
        expect(done.body).toMatchObject({ status: "failed", cost: 0, error: { code: "failed" } });
        unpaid.push(response.body.id);
      } finally {
        makeWarm(sim, "zimage");
      }
    });

    it("answers a warm timeout with 504 and a cold one as timed_out, both uncharged", async () => {
      const endpoint = sim.endpoints.get("chatterbox")!;
      endpoint.executionTimeoutMs = 10;
      endpoint.executionMs = 40;
      try {
        const warm = await post("audio", { model: "chatterbox", text: "too slow" });
        expect(warm.status).toBe(504);
        expect(warm.body.error.code).toBe("generation_timed_out");
        unpaid.push(warm.body.job_id);

        makeCold(sim, "chatterbox");
        const cold = await post("audio", { model: "chatterbox", text: "too slow, cold" });
        expect(cold.body.status).toBe("processing");
        const done = await pollUntilDone(gw.url, token, cold.body.poll_url);
        expect(done.body).toMatchObject({ status: "timed_out", cost: 0 });
        unpaid.push(cold.body.id);
      } finally {
        endpoint.executionTimeoutMs = undefined;
        endpoint.executionMs = undefined;
        makeWarm(sim, "chatterbox");
      }
    });

    it("cancels an in-flight job on RunPod and releases its hold", async () => {
      makeCold(sim, "flux-schnell", 3_000);
      try {
        const response = await post("image", { model: "flux-schnell", prompt: "never mind" });
        expect(response.body.status).toBe("processing");
        const cancelled = await api(gw.url, "POST", `/api/jobs/${response.body.id}/cancel`, {
          token,
        });
        expect(cancelled.status).toBe(200);
        expect(cancelled.body).toMatchObject({
          id: response.body.id,
          status: "cancelled",
          cost: 0,
        });
        const runpodId = cancelled.body.runpod_job_id;
        const simStatus = await fetch(`${sim.serverlessUrl}/flux-schnell/status/${runpodId}`, {
          headers: { authorization: `Bearer ${sim.apiKey}` },
        }).then((r) => r.json());
        expect(simStatus.status).toBe("CANCELLED");
        const status = await api(gw.url, "GET", response.body.poll_url, { token });
        expect(status.body.status).toBe("cancelled");
        unpaid.push(response.body.id);
        // Cancelling twice is harmless; a finished job cannot be cancelled.
        expect(
          (await api(gw.url, "POST", `/api/jobs/${response.body.id}/cancel`, { token })).status,
        ).toBe(200);
        const finished = completed[0].id;
        const refused = await api(gw.url, "POST", `/api/jobs/${finished}/cancel`, { token });
        expect(refused.status).toBe(409);
        expect(refused.body.error.code).toBe("job_not_cancellable");
      } finally {
        makeWarm(sim, "flux-schnell");
      }
    });
  });

  describe("status polls", () => {
    it("answers many concurrent polls from the projection, without asking RunPod", async () => {
      const { id, model } = completed.find((job) => job.model === "kokoro")!;
      const statusCallsBefore = sim.requests.filter((r) => r.path.includes("/status/")).length;
      const polls = await Promise.all(
        Array.from(
          { length: 25 },
          () => api(gw.url, "GET", `/api/v1/generate/audio/status/${id}`, { token }),
        ),
      );
      for (const poll of polls) {
        expect(poll.body).toMatchObject({ status: "completed", model, cost: 0.002 });
      }
      expect(sim.requests.filter((r) => r.path.includes("/status/")).length).toBe(
        statusCallsBefore,
      );
    });

    it("hides other accounts' jobs and jobs of another kind", async () => {
      const stranger = await fundedAccount(gw.url, "other@example.com", 0);
      const { id } = completed[0];
      expect(
        (await api(gw.url, "GET", `/api/v1/generate/image/status/${id}`, { token: stranger.key }))
          .status,
      )
        .toBe(404);
      expect((await api(gw.url, "GET", `/api/jobs/${id}`, { token: stranger.key })).status).toBe(
        404,
      );
      const wrongKind = await api(gw.url, "GET", `/api/v1/generate/audio/status/${id}`, { token });
      expect(wrongKind.status).toBe(404);
      expect(wrongKind.body.error.code).toBe("job_not_found");
    });

    it("lists the account's jobs newest first, with filters and pages", async () => {
      const all = await api(gw.url, "GET", "/api/jobs?limit=100", { token });
      expect(all.status).toBe(200);
      expect(all.body.data.length).toBe(completed.length + unpaid.length);
      const completedList = await api(gw.url, "GET", "/api/jobs?status=completed&limit=100", {
        token,
      });
      expect(completedList.body.data.map((job: any) => job.id).sort()).toEqual(
        completed.map((job) => job.id).sort(),
      );
      const first = await api(gw.url, "GET", "/api/jobs?limit=2", { token });
      expect(first.body.has_more).toBe(true);
      const second = await api(
        gw.url,
        "GET",
        `/api/jobs?limit=2&before=${first.body.next_before}`,
        { token },
      );
      expect(second.body.data[0].id).toBe(all.body.data[2].id);
    });
  });

  it("leaves a ledger with exactly one charge per completed job and none for failed ones", async () => {
    // Let the poller finish anything pending.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const rows = await transactions(gw.url, token);
    const jobCharges = rows.filter((row) =>
      String(row.reference).startsWith("job:") && row.amount_usd < 0
    );
    const chargedIds = jobCharges.map((row) => row.reference.slice("job:".length)).sort();
    expect(chargedIds).toEqual(completed.map((job) => job.id).sort());
    for (const job of completed) {
      const charge = jobCharges.find((row) => row.reference === `job:${job.id}`);
      expect(charge.amount_usd).toBe(-PRICES[job.model]);
    }
    for (const id of unpaid) expect(chargedIds).not.toContain(id);
    const spentMicros = completed.reduce(
      (sum, job) => sum + Math.round(PRICES[job.model] * 1e6),
      0,
    );
    const now = await balance(gw.url, token);
    expect(Math.round(now.balance_usd * 1e6)).toBe(10_000_000 - spentMicros);
    expect(now.available_usd).toBe(now.balance_usd);
  });
});
