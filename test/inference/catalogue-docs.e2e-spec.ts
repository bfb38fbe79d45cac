import OpenAI from "openai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PendingSettlements } from "../../src/inference/pending-settlements.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";
import { balanceUsd, createTenant, inferenceEvents, startGateway, type Tenant } from "./support.ts";

/**
 * The built-in catalogue as the documentation uses it, against the RunPod simulator with its
 * default endpoints: served (Hugging Face) names as `model`, and the documented embeddings
 * request working out of the box.
 */
describe("catalogue models as documented (simulator)", () => {
  let sim: RunpodSimulator;
  let gateway: TestApp;
  let tenant: Tenant;

  beforeAll(async () => {
    sim = await startRunpodSimulator({ executionMs: 1, coldStartMs: 0, apiKey: "rp-key-docs" });
    gateway = await startGateway({
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_API_KEY: "rp-key-docs",
      RECONCILE_INTERVAL_MS: "3600000",
      METERING_INTERVAL_MS: "3600000",
    });
    tenant = await createTenant(gateway, "1");
  });

  afterAll(async () => {
    await gateway?.close();
    await sim?.close();
  });

  async function completedFor(model: string) {
    await gateway.app.get(PendingSettlements).drain();
    return (await inferenceEvents(gateway)).filter((event) =>
      event.type === "InferenceCompleted" && event.data.accountId === tenant.accountId &&
      event.data.model === model
    );
  }

  it("chats with a catalogue model by its Hugging Face name, at the catalogue entry's price", async () => {
    const before = await balanceUsd(gateway, tenant.accountId);
    const completion = await tenant.client.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      messages: [{ role: "user", content: "Say hello" }],
    });
    expect(completion.choices[0].message.content).not.toBe("");
    expect(completion.model).toBe("Qwen/Qwen3-8B");
    // The same endpoint and price as `qwen3-8b`: RunPod's endpoint, $0.01.
    expect(completion.system_fingerprint).toBe("modelpilot-qwen3-8b");
    expect(await balanceUsd(gateway, tenant.accountId)).toBeCloseTo(before - 0.01, 6);
    const [completed] = await completedFor("Qwen/Qwen3-8B");
    expect(completed.data).toMatchObject({
      deploymentId: "qwen3-8b",
      upstreamModel: "Qwen/Qwen3-8B",
      routeKind: "serverless",
      chargedMicros: 10_000,
    });
    expect(
      sim.requests.some((r) => r.path === "/serverless/v2/qwen3-8b/openai/v1/chat/completions"),
    )
      .toBe(true);

    // Streamed, on the /api/v1 prefix, the same.
    const stream = await tenant.apiClient.chat.completions.create({
      model: "Qwen/Qwen3-8B",
      stream: true,
      messages: [{ role: "user", content: "Say hello" }],
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).not.toBe("");
    expect(await balanceUsd(gateway, tenant.accountId)).toBeCloseTo(before - 0.02, 6);
  });

  it("retrieves catalogue models by served name and alias; the list keeps the ids", async () => {
    expect((await tenant.client.models.retrieve("Qwen/Qwen3-8B")).id).toBe("Qwen/Qwen3-8B");
    expect((await tenant.client.models.retrieve("text-embedding-3-small")).id).toBe(
      "text-embedding-3-small",
    );
    const retrieved = await api(gateway.url, "GET", "/v1/models/Qwen/Qwen3-8B", {
      token: tenant.key,
    });
    expect(retrieved.body).toEqual({
      id: "Qwen/Qwen3-8B",
      object: "model",
      created: expect.any(Number),
      owned_by: "modelpilot",
    });
    const ids: string[] = [];
    for await (const model of tenant.client.models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(["qwen3-8b", "bge-small-en-v1.5"]));
    expect(ids).not.toContain("Qwen/Qwen3-8B");
    // A name no entry claims is still unknown.
    await expect(tenant.client.models.retrieve("Qwen/Qwen3-9B")).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it("answers the documented embeddings request out of the box, priced, on RunPod's embeddings worker", async () => {
    const before = await balanceUsd(gateway, tenant.accountId);
    // The platform documentation's request, exactly.
    const documented = await tenant.client.embeddings.create({
      model: "text-embedding-3-small",
      input: "The food was delicious and the waiter was friendly.",
    });
    expect(documented.object).toBe("list");
    expect(documented.model).toBe("text-embedding-3-small");
    expect(documented.data).toHaveLength(1);
    expect(documented.data[0]).toMatchObject({ object: "embedding", index: 0 });
    expect(documented.data[0].embedding.length).toBeGreaterThan(0);
    expect(documented.usage.prompt_tokens).toBeGreaterThan(0);
    expect(
      sim.requests.some((r) => r.path === "/serverless/v2/bge-small-en-v1.5/openai/v1/embeddings"),
    )
      .toBe(true);

    // The same vectors by the entry's id, its Hugging Face name, and as floats.
    const byId = await tenant.client.embeddings.create({
      model: "bge-small-en-v1.5",
      input: ["The food was delicious and the waiter was friendly.", "second"],
      encoding_format: "float",
    });
    expect(byId.data.map((item) => item.index)).toEqual([0, 1]);
    expect(byId.data[0].embedding).toEqual(documented.data[0].embedding);
    const byHf = await tenant.client.embeddings.create({
      model: "BAAI/bge-small-en-v1.5",
      input: "second",
    });
    expect(byHf.data[0].embedding).toEqual(byId.data[1].embedding);

    expect(await balanceUsd(gateway, tenant.accountId)).toBeCloseTo(before - 3 * 0.0005, 6);
    const [completed] = await completedFor("text-embedding-3-small");
    expect(completed.data).toMatchObject({
      deploymentId: "bge-small-en-v1.5",
      upstreamModel: "BAAI/bge-small-en-v1.5",
      chargedMicros: 500,
    });

    // An embedding model is not a chat model, by any of its names.
    const refused = await tenant.client.chat.completions.create({
      model: "text-embedding-3-small",
      messages: [{ role: "user", content: "hi" }],
    }).catch((error) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused.code).toBe("invalid_model_type");
  });

  it("refuses to start when two MODELS_FILE entries claim one served name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "catalogue-docs-"));
    try {
      const file = join(dir, "models.json");
      writeFileSync(
        file,
        JSON.stringify({
          models: [
            { id: "a", kind: "text", served_model_name: "Org/Model", price_usd: 0.01 },
            { id: "b", kind: "text", served_model_name: "Org/Model", price_usd: 0.02 },
          ],
        }),
      );
      const failure = await startTestApp({ env: { MODELS_FILE: file } }).then(
        async (app) => {
          await app.close();
          return undefined;
        },
        (error: Error) => error,
      );
      expect(failure?.message).toMatch(
        /models\[1\] \(b\)\.served_model_name: 'Org\/Model' is also the served_model_name of models\[0\] \(a\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
