import { request as httpRequest } from "node:http";
import { ArtifactUrlSigner } from "../../src/generation/artifact-urls.ts";
import type { RunpodSimulator } from "../support/runpod-sim/index.ts";
import { parseMp4, parsePng } from "../support/media.ts";
import { fundedAccount } from "../support/accounts.ts";
import { api, type TestApp } from "../support/test-app.ts";
import { decode, gateway, pollUntilDone, simulator } from "./support/generation.ts";

/** GET over node:http, which (unlike fetch) lets a test write the Host header a client sends. */
function getWithHeaders(
  base: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: any }> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port: Number(port), path, method: "GET", headers },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => text += chunk);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A plain browser-like GET: no Authorization, no cookie. */
async function plainGet(url: string) {
  const response = await fetch(url);
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    data: new Uint8Array(await response.arrayBuffer()),
  };
}

describe("signed, expiring links to generated files", () => {
  let sim: RunpodSimulator;
  let gw: TestApp;
  let token: string;
  let image: { url: string; jobId: string; png: Uint8Array };

  beforeAll(async () => {
    sim = await simulator();
    gw = await gateway(sim);
    token = (await fundedAccount(gw.url, "links@example.com", 10)).key;
    const response = await api(gw.url, "POST", "/api/v1/generate/image", {
      token,
      body: { model: "flux-schnell", prompt: "a lighthouse", width: 512, height: 512 },
    });
    expect(response.status).toBe(200);
    image = {
      url: response.body.images[0].url,
      jobId: response.body.id,
      png: decode(response.body.images[0].base64),
    };
  });

  afterAll(async () => {
    await gw?.close();
    await sim?.close();
  });

  it("hands out absolute links on the gateway's own port that open without a key", async () => {
    // The test gateway listens on an ephemeral port, never 3000: the link must carry that port.
    expect(image.url.startsWith(`${gw.url}/api/v1/artifacts/`)).toBe(true);
    expect(new URL(gw.url).port).not.toBe("3000");
    const file = await plainGet(image.url);
    expect(file.status).toBe(200);
    expect(file.contentType).toBe("image/png");
    expect(file.data).toEqual(image.png);
    expect(parsePng(file.data)).toMatchObject({ width: 512, height: 512 });
  });

  it("keeps the Authorization header path working, and refuses the bare path without it", async () => {
    const path = new URL(image.url).pathname;
    const withKey = await fetch(`${gw.url}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(withKey.status).toBe(200);
    expect(new Uint8Array(await withKey.arrayBuffer())).toEqual(image.png);
    const bare = await api(gw.url, "GET", path);
    expect(bare.status).toBe(401);
  });

  it("refuses a tampered signature, expiry or artifact id with 403 invalid_signature", async () => {
    const url = new URL(image.url);
    const signature = url.searchParams.get("signature")!;
    const flipped = signature[0] === "A" ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
    const tampered = [
      `${url.origin}${url.pathname}?expires=${
        url.searchParams.get("expires")
      }&signature=${flipped}`,
      `${url.origin}${url.pathname}?expires=${
        Number(url.searchParams.get("expires")) + 3600
      }&signature=${signature}`,
      `${url.origin}${url.pathname.replace(/_0\./, "_1.")}${url.search}`,
      `${url.origin}${url.pathname}?signature=${signature}`,
      `${url.origin}${url.pathname}?expires=${url.searchParams.get("expires")}`,
    ];
    for (const candidate of tampered) {
      const response = await api(candidate, "GET", "");
      expect(response.status).toBe(403);
      expect(response.body.error).toMatchObject({
        type: "permission_error",
        code: "invalid_signature",
      });
    }
    // A signed link never needs a key, and a key does not rescue a bad link.
    const withKey = await api(tampered[0], "GET", "", { token });
    expect(withKey.status).toBe(403);
  });

  it("refuses a genuinely signed link once it has expired with 403 url_expired", async () => {
    const id = new URL(image.url).pathname.split("/").pop()!;
    const signer = gw.app.get(ArtifactUrlSigner);
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    const expired = await api(gw.url, "GET", signer.signedPath(id, twoHoursAgo));
    expect(expired.status).toBe(403);
    expect(expired.body.error.code).toBe("url_expired");
    // The default lifetime is an hour.
    const expires = Number(new URL(image.url).searchParams.get("expires"));
    expect(expires * 1000 - Date.now()).toBeGreaterThan(3500_000);
    expect(expires * 1000 - Date.now()).toBeLessThan(3700_000);
  });

  it("signs the documented videos[0].url and the job list's output urls", async () => {
    const submitted = await api(gw.url, "POST", "/api/v1/generate/video", {
      token,
      body: { model: "wan-t2v", prompt: "waves", duration: 1 },
    });
    expect(submitted.status).toBe(200);
    const done = await pollUntilDone(gw.url, token, submitted.body.poll_url);
    expect(done.body.status).toBe("COMPLETED");
    const video = await plainGet(done.body.videos[0].url);
    expect(video.status).toBe(200);
    expect(video.contentType).toBe("video/mp4");
    expect(parseMp4(video.data).durationSeconds).toBeCloseTo(1, 1);

    const job = await api(gw.url, "GET", `/api/jobs/${image.jobId}`, { token });
    expect(job.body.outputs[0].url).toMatch(/\?expires=\d+&signature=/);
    expect((await plainGet(job.body.outputs[0].url)).status).toBe(200);
  });

  it("builds links from the Host header, and ignores forwarded headers from an untrusted hop", async () => {
    const job = await getWithHeaders(gw.url, `/api/jobs/${image.jobId}`, {
      authorization: `Bearer ${token}`,
      host: "console.example.test:8443",
      "x-forwarded-host": "evil.example",
      "x-forwarded-proto": "https",
    });
    expect(job.status).toBe(200);
    expect(job.body.outputs[0].url).toMatch(
      /^http:\/\/console\.example\.test:8443\/api\/v1\/artifacts\//,
    );
  });
});

describe("artifact link origins by configuration", () => {
  let sim: RunpodSimulator;

  beforeAll(async () => {
    sim = await simulator();
  });

  afterAll(async () => {
    await sim?.close();
  });

  async function imageJob(gw: TestApp, email: string) {
    const token = (await fundedAccount(gw.url, email, 1)).key;
    const response = await api(gw.url, "POST", "/api/v1/generate/image", {
      token,
      body: { model: "sdxl", prompt: "a kite" },
    });
    expect(response.status).toBe(200);
    return { token, body: response.body };
  }

  it("uses PUBLIC_BASE_URL (with its path prefix) when it is set", async () => {
    const gw = await gateway(sim, { env: { PUBLIC_BASE_URL: "https://media.example.test/gw/" } });
    try {
      const { body } = await imageJob(gw, "public-base@example.com");
      const url = new URL(body.images[0].url);
      expect(`${url.origin}${url.pathname}`).toMatch(
        /^https:\/\/media\.example\.test\/gw\/api\/v1\/artifacts\//,
      );
      // Behind that prefix a proxy strips /gw: the same signed path opens on the gateway itself.
      const local = `${gw.url}${url.pathname.replace(/^\/gw/, "")}${url.search}`;
      expect((await plainGet(local)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it("believes X-Forwarded-Host and -Proto only from a trusted proxy (TRUST_PROXY)", async () => {
    const gw = await gateway(sim, { env: { TRUST_PROXY: "1" } });
    try {
      const { token, body } = await imageJob(gw, "proxied@example.com");
      const job = await getWithHeaders(gw.url, `/api/jobs/${body.id}`, {
        authorization: `Bearer ${token}`,
        "x-forwarded-host": "gateway.example.com",
        "x-forwarded-proto": "https",
      });
      expect(job.body.outputs[0].url).toMatch(
        /^https:\/\/gateway\.example\.com\/api\/v1\/artifacts\//,
      );
      // A Host that is not a host name never becomes a link.
      const junk = await getWithHeaders(gw.url, `/api/jobs/${body.id}`, {
        authorization: `Bearer ${token}`,
        "x-forwarded-host": "evil.example/<script>",
      });
      expect(junk.body.outputs[0].url).toMatch(/^http:\/\/localhost\/api\/v1\/artifacts\//);
    } finally {
      await gw.close();
    }
  });
});
