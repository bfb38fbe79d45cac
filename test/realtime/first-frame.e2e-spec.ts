import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { createAccountWithKey } from "../support/accounts.ts";
import { connectRealtime } from "../support/realtime-client.ts";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";

/**
 * The upstream's first frame (`session.created`, sent the moment the socket opens) must reach
 * the client. An upstream in the test's own process writes the 101 and that frame in one go,
 * which hides a lost-first-frame race; here the upstream runs in a process of its own
 * (bench/support/realtime-upstream-process.ts), as a real remote server does.
 */
const SESSIONS = 60;

describe("the upstream's first frame, from an upstream in another process", () => {
  let gateway: TestApp;
  let child: ChildProcess;
  let baseUrl: string;

  beforeAll(async () => {
    child = spawn(process.execPath, ["run", "-A", "bench/support/realtime-upstream-process.ts"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    baseUrl = await new Promise<string>((resolve) =>
      createInterface({ input: child.stdout! }).once(
        "line",
        (line) => resolve(JSON.parse(line).baseUrl),
      )
    );
    gateway = await startTestApp({ env: { ALLOW_PRIVATE_UPSTREAMS: "true" } });
  });
  afterAll(async () => {
    await gateway?.close();
    child?.stdin?.end();
  });

  it("reaches every client as its first event", async () => {
    const { key } = await createAccountWithKey(gateway.url, "first-frame@example.com");
    const registered = await api(gateway.url, "POST", "/api/deployments", {
      token: key,
      body: {
        provider: "external",
        name: "remote-voice",
        model: "m",
        base_url: baseUrl,
        realtime: true,
      },
    });
    expect(registered.status).toBe(201);
    let missing = 0;
    for (let i = 0; i < SESSIONS; i++) {
      const client = connectRealtime(
        `${gateway.url.replace("http:", "ws:")}/v1/realtime?model=remote-voice`,
        { headers: { authorization: `Bearer ${key}` } },
      );
      await client.opened;
      // A session.update answer proves the relay works; session.created must have come first.
      client.send({ type: "session.update", session: { instructions: "x" } });
      await client.next("session.updated", 5_000);
      if (client.events[0]?.type !== "session.created") missing++;
      client.close(1000);
      await client.closed;
    }
    expect({ sessions: SESSIONS, missing }).toEqual({ sessions: SESSIONS, missing: 0 });
  }, 60_000);
});
