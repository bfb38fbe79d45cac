import { opensslAvailable } from "../support/test-ca.ts";
import { textOf } from "../support/realtime-client.ts";
import { TEST_ADMIN_KEY } from "../support/test-app.ts";
import { Buffer } from "node:buffer";
import {
  type RealtimeWorld,
  SIM_KEY,
  startRealtimeWorld,
  UPSTREAM_KEY,
  watchSdk,
} from "./tls-gateway.ts";

/**
 * The official `openai` package's Node realtime client (OpenAIRealtimeWS, wss: only) and a
 * browser-style client (`ws` with the subprotocol key), unchanged, against the gateway's own
 * TLS with a test CA; behind it a local upstream speaking the protocol (registered as an
 * external upstream with `realtime: true`) and the simulator's load-balancing realtime worker
 * (the catalogue's `s2s-realtime`).
 */
const haveOpenssl = opensslAvailable();
if (!haveOpenssl) {
  console.warn("sdk.e2e-spec skipped: the openssl CLI is not installed (apt-get install openssl)");
}
const describeTls = haveOpenssl ? describe : describe.skip;

const ask = (text: string) => [
  {
    type: "conversation.item.create" as const,
    item: {
      type: "message" as const,
      role: "user" as const,
      content: [{ type: "input_text" as const, text }],
    },
  },
  { type: "response.create" as const },
];

describeTls("realtime over wss: with the official SDK and a browser-style client", () => {
  let world: RealtimeWorld;
  let key: string;
  let voice: string;

  beforeAll(async () => {
    world = await startRealtimeWorld({
      MAX_CONCURRENT_REQUESTS_PER_ACCOUNT: "3",
      // Short, so a session that outlives it shows upgraded sockets leave the HTTP sweep.
      HTTP_HEADERS_TIMEOUT_MS: "500",
      REALTIME_HOLD_USD: "0.0003",
    });
    ({ key } = await world.tenant(5));
    voice = await world.registerUpstream(key);
  });
  afterAll(async () => await world?.close());

  it("relays events both ways for the SDK's Node client, with the upstream's own key", async () => {
    const session = watchSdk(world.sdk(key, voice));
    await session.opened;
    expect(session.rt.url.protocol).toBe("wss:");
    expect((await session.next("session.created")).session.model).toBe("local-voice-1");
    session.rt.send({ type: "session.update", session: { type: "realtime", instructions: "hi" } });
    expect((await session.next("session.updated")).session.instructions).toBe("hi");
    for (const event of ask("over the sdk")) session.rt.send(event);
    const done = await session.next("response.done");
    expect(textOf(session.events, done.response.id)).toBe(
      "Hello from the local realtime upstream! You said: over the sdk",
    );
    expect(done.response.usage.output_token_details.text_tokens).toBe(11);

    const seen = world.upstream.upgrades.at(-1)!;
    expect(seen.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(JSON.stringify(seen.headers)).not.toContain(key);
    expect(seen.model).toBe("local-voice-1");
    // The client's events arrived unchanged and in order.
    expect(world.upstream.clientEvents.slice(-3).map((event) => event.type)).toEqual([
      "session.update",
      "conversation.item.create",
      "response.create",
    ]);
    expect(world.upstream.clientEvents.at(-2).item.content[0].text).toBe("over the sdk");
    session.rt.close({ code: 1000, reason: "done" });
    expect((await session.closed).code).toBe(1000);
    expect(session.errors).toEqual([]);
  });

  it("relays events both ways for a browser-style client; `realtime` selected, the key never echoed", async () => {
    for (const path of ["/v1/realtime", "/api/v1/realtime"]) {
      const client = world.browser(key, voice, path);
      await client.opened;
      expect(client.protocol()).toBe("realtime");
      await client.next("session.created");
      const done = await client.ask("from a browser");
      expect(textOf(client.events, done.response.id)).toContain("You said: from a browser");
      const seen = world.upstream.upgrades.at(-1)!;
      expect(seen.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      expect(seen.protocols ?? "").not.toContain("openai-insecure-api-key");
      expect(JSON.stringify(seen.headers)).not.toContain(key);
      client.close(1000);
      await client.closed;
    }
  });

  it("carries PCM16 audio both ways to the catalogue model, dialled with the RunPod key", async () => {
    const session = watchSdk(world.sdk(key, "s2s-realtime"));
    await session.next("session.created");
    session.rt.send({
      type: "session.update",
      session: { type: "realtime", output_modalities: ["audio"] },
    });
    await session.next("session.updated");
    // 250 ms of silence, PCM16 mono 24 kHz.
    session.rt.send({
      type: "input_audio_buffer.append",
      audio: Buffer.alloc(12_000).toString("base64"),
    });
    session.rt.send({ type: "input_audio_buffer.commit" });
    await session.next("input_audio_buffer.committed");
    session.rt.send({ type: "response.create" });
    const done = await session.next("response.done");
    const audio = session.events.filter((event) => event.type === "response.output_audio.delta");
    expect(audio.length).toBeGreaterThan(0);
    for (const delta of audio) expect(Buffer.from(delta.delta, "base64").length).toBe(9_600);
    expect(done.response.usage.input_token_details.audio_tokens).toBe(3);
    expect(done.response.usage.output_token_details.audio_tokens).toBe(audio.length * 4);
    const dialled = world.sim.requests.filter((request) => request.method === "UPGRADE").at(-1)!;
    expect(dialled.path).toBe("/lb/s2s-realtime/v1/realtime?model=speech-to-speech");
    expect(dialled.authorization).toBe(`Bearer ${SIM_KEY}`);
    session.rt.close({ code: 1000, reason: "" });
    await session.closed;
  });

  it("keeps a session open past the HTTP headers window", async () => {
    const client = world.browser(key, voice);
    await client.next("session.created");
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect((await client.ask("still there?")).response.status).toBe("completed");
    client.close(1000);
    expect((await client.closed).code).toBe(1000);
  });

  describe("refusals, each an HTTP answer in the OpenAI envelope before any upgrade", () => {
    const refusal = async (sdkKey: string, model: string) => {
      const session = watchSdk(world.sdk(sdkKey, model));
      const outcome = await session.opened.then(
        () => ({ status: 101, body: undefined as any }),
        (refused: { status: number; body: any }) => refused,
      );
      if (outcome.status === 101) session.rt.close();
      return outcome;
    };

    it("401 bad key, 403 no proxy permission, 404 unknown model, 400 not a realtime model", async () => {
      const unauthorized = await refusal("mp_live_not-a-real-key", voice);
      expect(unauthorized.status).toBe(401);
      expect(Object.keys(unauthorized.body.error).sort()).toEqual([
        "code",
        "message",
        "param",
        "type",
      ]);

      const readOnly = await world.tenant(5, ["read"]);
      expect((await refusal(readOnly.key, voice)).status).toBe(403);
      const unknown = await refusal(key, "no-such-model");
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe("model_not_found");
      const text = await refusal(key, "qwen3-8b");
      expect(text.status).toBe(400);
      expect(text.body.error.code).toBe("model_not_realtime");
    });

    it("402 when a catalogue realtime model's opening hold cannot be covered", async () => {
      const broke = await world.tenant(0);
      const refused = await refusal(broke.key, "s2s-realtime");
      expect(refused.status).toBe(402);
      expect(refused.body.error.code).toBe("insufficient_credits");
      expect(world.sim.realtimeSessions()).toBe(0);
    });

    it("429 past the account's concurrency limit, counted with its open sessions", async () => {
      const busy = await world.tenant(5);
      const name = await world.registerUpstream(busy.key);
      const open = [0, 1, 2].map(() => watchSdk(world.sdk(busy.key, name)));
      await Promise.all(open.map((session) => session.next("session.created")));
      const refused = await refusal(busy.key, name);
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe("concurrency_limit_exceeded");
      open[0].rt.close({ code: 1000, reason: "" });
      await open[0].closed;
      // A slot freed by a closed session is usable again (the release may lag the close a little).
      let again = await refusal(busy.key, name);
      for (let i = 0; again.status === 429 && i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        again = await refusal(busy.key, name);
      }
      expect(again.status).toBe(101);
      for (const session of open.slice(1)) session.rt.close({ code: 1000, reason: "" });
    });
  });

  it("cuts a catalogue-model session with insufficient_credits and close 1008 when credit runs out", async () => {
    // $0.001 covers the $0.0003 opening hold and a few responses of growing cost, not many.
    const payer = await world.tenant(0.001);
    const session = watchSdk(world.sdk(payer.key, "s2s-realtime"));
    await session.next("session.created");
    let completed = 0;
    let cut: any;
    for (let turn = 0; turn < 30 && !cut; turn++) {
      for (const event of ask(`turn ${turn} with a few more words`)) session.rt.send(event);
      const outcome = await Promise.race([
        session.next("response.done").then(() => "done"),
        session.closed.then(() => "closed"),
      ]);
      if (outcome === "done") completed++;
      cut = session.events.find((event) => event.type === "error");
      if (outcome === "closed") break;
    }
    expect(cut?.error).toMatchObject({
      type: "insufficient_credits",
      code: "insufficient_credits",
    });
    expect(completed).toBeGreaterThanOrEqual(1);
    expect((await session.closed).code).toBe(1008);

    // Every completed response was charged once, and the balance never went below zero.
    const balance = await world.call("GET", "/api/billing/balance", payer.key);
    expect(balance.body.balance_usd).toBeGreaterThanOrEqual(0);
    const recorded = await world.call(
      "GET",
      "/admin/events?type=RealtimeResponseCompleted&limit=1000",
      TEST_ADMIN_KEY,
    );
    const mine = (recorded.body.data ?? recorded.body.events ?? recorded.body).filter(
      (event: any) => event.data?.accountId === payer.accountId,
    );
    expect(mine).toHaveLength(completed);
    const transactions = await world.call("GET", "/api/billing/transactions?limit=100", payer.key);
    const charges = transactions.body.data.filter((row: any) =>
      row.reference?.startsWith("realtime:") && row.amount_usd < 0
    );
    const chargedMicros = charges.reduce(
      (sum: number, row: any) => sum + Math.round(-row.amount_usd * 1e6),
      0,
    );
    const recordedMicros = mine.reduce(
      (sum: number, event: any) => sum + event.data.chargeMicros,
      0,
    );
    expect(charges).toHaveLength(completed);
    expect(chargedMicros).toBe(recordedMicros);
  });

  it("closes the client with 1011 when the upstream drops, and passes the client's code upstream", async () => {
    const dropped = watchSdk(world.sdk(key, voice));
    await dropped.next("session.created");
    world.upstream.dropAll();
    expect((await dropped.closed).code).toBe(1011);

    const leaving = world.browser(key, voice);
    await leaving.next("session.created");
    const before = world.upstream.closes.length;
    leaving.close(4321, "client leaving");
    await leaving.closed;
    await until(() => world.upstream.closes.length > before);
    expect(world.upstream.closes.at(-1)!.code).toBe(4321);

    // A client that vanishes without a close frame: the upstream is told 1001 (going away).
    const vanishing = world.browser(key, voice);
    await vanishing.next("session.created");
    const count = world.upstream.closes.length;
    vanishing.socket.terminate();
    await until(() => world.upstream.closes.length > count);
    expect(world.upstream.closes.at(-1)!.code).toBe(1001);
  });
});

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
