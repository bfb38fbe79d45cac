import { opensslAvailable } from "../support/test-ca.ts";
import { textOf } from "../support/realtime-client.ts";
import { type RealtimeWorld, startRealtimeWorld } from "./tls-gateway.ts";

/**
 * 100 realtime sessions at once through the gateway's own TLS (browser-style clients, four
 * accounts of 25 so the default per-account concurrency limit of 64 is not what is measured),
 * each streaming a response from the local upstream. Bounded: every session must open, get its
 * whole response and close within the test's time, and no session may wait longer than
 * STALL_MS between two events once its response has started.
 */
const SESSIONS = 100;
const ACCOUNTS = 4;
const STALL_MS = 2_000;

const haveOpenssl = opensslAvailable();
if (!haveOpenssl) {
  console.warn("load.e2e-spec skipped: the openssl CLI is not installed (apt-get install openssl)");
}
const describeTls = haveOpenssl ? describe : describe.skip;

describeTls("100 concurrent realtime sessions", () => {
  let world: RealtimeWorld;
  beforeAll(async () => {
    world = await startRealtimeWorld();
    // A paced stream, as a model speaks: 2 ms between deltas.
    world.upstream.knobs.deltaDelayMs = 2;
  });
  afterAll(async () => await world?.close());

  it(
    "opens them all, completes a response in each with no stalled event, and closes them",
    async () => {
      const tenants = await Promise.all(
        Array.from({ length: ACCOUNTS }, async () => {
          const tenant = await world.tenant(5);
          return { ...tenant, model: await world.registerUpstream(tenant.key) };
        }),
      );
      const started = Date.now();
      const clients = Array.from({ length: SESSIONS }, (_, index) => {
        const tenant = tenants[index % ACCOUNTS];
        return world.browser(tenant.key, tenant.model);
      });
      await Promise.all(clients.map((client) => client.next("session.created", 15_000)));
      const openedMs = Date.now() - started;
      expect(world.upstream.openSessions()).toBe(SESSIONS);

      // Every session records when each event arrived, to find the longest gap.
      const arrivals = clients.map(() => [] as number[]);
      clients.forEach((client, index) => {
        client.socket.on("message", () => arrivals[index].push(Date.now()));
      });
      const dones = await Promise.all(
        clients.map((client, index) => client.ask(`session number ${index}`, {}, 20_000)),
      );
      const completedMs = Date.now() - started;

      dones.forEach((done, index) => {
        expect(done.response.status).toBe("completed");
        expect(textOf(clients[index].events, done.response.id)).toBe(
          `Hello from the local realtime upstream! You said: session number ${index}`,
        );
      });
      const longestGap = Math.max(
        ...arrivals.map((times) =>
          times.slice(1).reduce((gap, at, i) => Math.max(gap, at - times[i]), 0)
        ),
      );
      expect(longestGap).toBeLessThan(STALL_MS);

      for (const client of clients) client.close(1000);
      const codes = await Promise.all(clients.map((client) => client.closed));
      expect(codes.every(({ code }) => code === 1000)).toBe(true);
      const deadline = Date.now() + 5_000;
      while (world.upstream.openSessions() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(world.upstream.openSessions()).toBe(0);
      console.log(JSON.stringify({
        sessions: SESSIONS,
        all_open_ms: openedMs,
        all_responses_done_ms: completedMs,
        longest_gap_between_events_ms: longestGap,
      }));
    },
    60_000,
  );
});
