import { Buffer } from "node:buffer";
import { connectRealtime, textOf, UpgradeRefused } from "../support/realtime-client.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import {
  type RealtimeUpstream,
  startRealtimeUpstream,
} from "../support/upstreams/realtime-upstream.ts";

const KEY = "rp_realtime_key_123";

describe("the simulator's realtime worker (a load-balancing endpoint)", () => {
  let sim: RunpodSimulator;
  const url = (model = "speech-to-speech", endpoint = "s2s-realtime") =>
    `${sim.lbUrlTemplate.replace("{endpointId}", endpoint).replace("http:", "ws:")}` +
    `/v1/realtime?model=${encodeURIComponent(model)}`;
  const connect = (headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) =>
    connectRealtime(url(), { headers });

  beforeAll(async () => {
    sim = await startRunpodSimulator({ apiKey: KEY });
  });
  afterAll(() => sim.close());
  afterEach(() => {
    Object.assign(sim.knobs, {
      realtimeLatencyMs: 0,
      realtimeDropAfterDeltas: null,
      realtimeDuplicateDone: false,
      tokensPerSecond: 1000,
    });
  });

  it("answers /ping like a RunPod load-balancing worker", async () => {
    const ping = await fetch(`${sim.lbUrlTemplate.replace("{endpointId}", "s2s-realtime")}/ping`);
    expect(ping.status).toBe(200);
    expect(await ping.json()).toEqual({ status: "healthy" });
  });

  it("opens with session.created, updates the session, and streams a text response with usage", async () => {
    const client = connect();
    await client.opened;
    const created = await client.next("session.created");
    expect(created.session).toMatchObject({ type: "realtime", model: "speech-to-speech" });
    client.send({ type: "session.update", session: { instructions: "be brief" } });
    expect((await client.next("session.updated")).session.instructions).toBe("be brief");

    const done = await client.ask("what is two plus two");
    const responseId = done.response.id;
    expect((await client.next("response.created")).response.id).toBe(responseId);
    const reply = "Hello from the realtime simulator! You said: what is two plus two";
    expect(textOf(client.events, responseId)).toBe(reply);
    const deltas = client.events.filter((e) => e.type === "response.output_text.delta");
    expect(deltas).toHaveLength(reply.split(" ").length);
    expect(done.response.status).toBe("completed");
    // Input: the instructions (2 words) and the question (5); output: the reply's 12 words.
    expect(done.response.usage).toEqual({
      total_tokens: 19,
      input_tokens: 7,
      output_tokens: 12,
      input_token_details: {
        text_tokens: 7,
        audio_tokens: 0,
        cached_tokens: 0,
        cached_tokens_details: { text_tokens: 0, audio_tokens: 0 },
      },
      output_token_details: { text_tokens: 12, audio_tokens: 0 },
    });

    // The next turn re-reads the whole conversation; what the first read is reported as cached.
    const second = await client.ask("and three");
    expect(second.response.usage.input_tokens).toBe(7 + 12 + 2);
    expect(second.response.usage.input_token_details.cached_tokens).toBe(7);
    client.close(1000);
    expect((await client.closed).code).toBe(1000);
  });

  it("takes PCM16 audio in and answers with PCM16 audio deltas and a transcript", async () => {
    const client = connect();
    await client.next("session.created");
    client.send({
      type: "session.update",
      session: {
        output_modalities: ["audio"],
        audio: { input: { transcription: { model: "whisper-1" } } },
      },
    });
    await client.next("session.updated");
    // 500 ms of silence at 24 kHz, sent in two appends.
    const half = Buffer.alloc(12_000).toString("base64");
    client.send({ type: "input_audio_buffer.append", audio: half });
    client.send({ type: "input_audio_buffer.append", audio: half });
    client.send({ type: "input_audio_buffer.commit" });
    const committed = await client.next("input_audio_buffer.committed");
    const transcription = await client.next(
      "conversation.item.input_audio_transcription.completed",
    );
    expect(transcription).toMatchObject({
      item_id: committed.item_id,
      usage: { type: "duration", seconds: 0.5 },
    });
    client.send({ type: "response.create" });
    const done = await client.next("response.done");
    const audio = client.events.filter((e) => e.type === "response.output_audio.delta");
    const words = "Hello from the realtime simulator! You said: (audio 500 ms)".split(" ");
    expect(audio).toHaveLength(words.length);
    for (const delta of audio) expect(Buffer.from(delta.delta, "base64").length).toBe(9600);
    const transcript = client.events.find((e) =>
      e.type === "response.output_audio_transcript.done"
    );
    expect(transcript.transcript).toBe(words.join(" "));
    expect(done.response.usage.input_token_details).toMatchObject({
      text_tokens: 0,
      audio_tokens: 5,
    });
    expect(done.response.usage.output_token_details).toEqual({
      text_tokens: words.length,
      audio_tokens: words.length * 4,
    });
    client.close();
  });

  it("refuses a wrong key, a wrong model and an unknown endpoint before the upgrade", async () => {
    const refused = async (client: ReturnType<typeof connect>) =>
      await client.opened.then(() => 0, (error: UpgradeRefused) => error.status);
    expect(await refused(connect({ authorization: "Bearer wrong" }))).toBe(401);
    expect(
      await refused(connectRealtime(url("other"), { headers: { authorization: `Bearer ${KEY}` } })),
    )
      .toBe(400);
    expect(
      await refused(connectRealtime(url("speech-to-speech", "nope"), {
        headers: { authorization: `Bearer ${KEY}` },
      })),
    ).toBe(404);
    sim.failNext("/lb/s2s-realtime", 503);
    expect(await refused(connect())).toBe(503);
  });

  it("turns its knobs: latency, drops, and a replayed response.done", async () => {
    sim.knobs.realtimeLatencyMs = 150;
    const slow = connect();
    await slow.next("session.created");
    const started = Date.now();
    await slow.ask("hi");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    slow.close();

    sim.knobs.realtimeLatencyMs = 0;
    sim.knobs.realtimeDuplicateDone = true;
    const replaying = connect();
    await replaying.next("session.created");
    const first = await replaying.ask("twice");
    const again = await replaying.next("response.done");
    expect(again.response.id).toBe(first.response.id);
    replaying.close();

    sim.knobs.realtimeDuplicateDone = false;
    sim.knobs.realtimeDropAfterDeltas = 3;
    const dropped = connect();
    await dropped.next("session.created");
    dropped.send({ type: "response.create" });
    expect((await dropped.closed).code).toBe(1006);
    expect(dropped.events.filter((e) => e.type === "response.output_text.delta")).toHaveLength(3);

    sim.knobs.realtimeDropAfterDeltas = null;
    const crashed = connect();
    await crashed.next("session.created");
    expect(sim.realtimeSessions()).toBeGreaterThanOrEqual(1);
    expect(sim.dropRealtimeSessions()).toBeGreaterThanOrEqual(1);
    expect((await crashed.closed).code).toBe(1006);
  });

  it("answers an unknown event or a malformed frame with an error event, and stays open", async () => {
    const client = connect();
    await client.next("session.created");
    client.socket.send("not json");
    expect((await client.next("error")).error.code).toBe("invalid_json");
    client.send({ type: "no.such.event", event_id: "evt_1" });
    expect((await client.next("error")).error).toMatchObject({
      code: "unknown_event",
      event_id: "evt_1",
    });
    expect((await client.ask("still here")).response.status).toBe("completed");
    client.close();
  });
});

describe("the local realtime upstream (an external upstream's stand-in)", () => {
  let upstream: RealtimeUpstream;
  beforeAll(async () => {
    upstream = await startRealtimeUpstream({ apiKey: "upstream-own-key" });
  });
  afterAll(() => upstream.close());

  it("records the Authorization header of every upgrade and the client's close code", async () => {
    const client = connectRealtime(upstream.realtimeUrl("any-model"), {
      headers: { authorization: "Bearer upstream-own-key" },
      protocols: ["realtime"],
    });
    await client.opened;
    expect(client.protocol()).toBe("realtime");
    const done = await client.ask("hello");
    expect(textOf(client.events, done.response.id)).toBe(
      "Hello from the local realtime upstream! You said: hello",
    );
    expect(upstream.upgrades.at(-1)).toMatchObject({
      model: "any-model",
      authorization: "Bearer upstream-own-key",
    });
    expect(upstream.clientEvents.map((event) => event.type)).toEqual([
      "conversation.item.create",
      "response.create",
    ]);
    client.close(4001, "bye");
    await client.closed;
    await waitFor(() => upstream.closes.length > 0);
    expect(upstream.closes.at(-1)).toEqual({ code: 4001, reason: "bye" });
  });

  it("refuses a wrong key and injected statuses, drops and closes on demand", async () => {
    const refused = connectRealtime(upstream.realtimeUrl("m"), {
      headers: { authorization: "Bearer client-key" },
    });
    await expect(refused.opened).rejects.toMatchObject({ status: 401 });
    upstream.refuseNext(503);
    const injected = connectRealtime(upstream.realtimeUrl("m"), {
      headers: { authorization: "Bearer upstream-own-key" },
    });
    await expect(injected.opened).rejects.toMatchObject({ status: 503 });

    const headers = { authorization: "Bearer upstream-own-key" };
    const first = connectRealtime(upstream.realtimeUrl("m"), { headers });
    const second = connectRealtime(upstream.realtimeUrl("m"), { headers });
    await Promise.all([first.next("session.created"), second.next("session.created")]);
    expect(upstream.openSessions()).toBe(2);
    expect(upstream.dropAll()).toBe(2);
    expect((await first.closed).code).toBe(1006);
    const third = connectRealtime(upstream.realtimeUrl("m"), { headers });
    await third.next("session.created");
    upstream.closeAll(1000, "done");
    expect(await third.closed).toEqual({ code: 1000, reason: "done" });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
