import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { clientFor } from "../deployments/support.ts";
import type { TestApp } from "../support/test-app.ts";
import { type LocalUpstream, startLocalUpstream } from "../support/upstreams/openai-upstream.ts";
import {
  api,
  createGroup,
  createTenant,
  external,
  servedBy,
  startGroupGateway,
  type Tenant,
} from "./support.ts";

describe("model groups: create, read, delete, validation, restart", () => {
  let gateway: TestApp;
  let tenant: Tenant;
  let upstream: LocalUpstream;
  let memberId: string;

  const post = (body: unknown, token = tenant.key) =>
    api(gateway.url, "POST", "/api/model-groups", { token, body });

  beforeAll(async () => {
    upstream = await startLocalUpstream("vllm");
    gateway = await startGroupGateway();
    tenant = await createTenant(gateway, "1");
    memberId = await external(gateway, tenant, "own-server", upstream);
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("creates a group of a deployment (by name or id) and a catalogue model, lists, gets and deletes it", async () => {
    const created = await post({
      name: "team/chat",
      members: [memberId, "qwen3-8b"],
      strategy: "weighted",
      weights: [2, 1],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^grp_/),
      object: "model_group",
      name: "team/chat",
      strategy: "weighted",
      members: [
        { model: "own-server", kind: "deployment", deployment_id: memberId, weight: 2 },
        { model: "qwen3-8b", kind: "catalogue", deployment_id: null, weight: 1 },
      ],
    });
    const id = created.body.id;
    const list = await api(gateway.url, "GET", "/api/model-groups", { token: tenant.key });
    expect(list.body.data.map((group: any) => group.id)).toContain(id);
    const one = await api(gateway.url, "GET", `/api/model-groups/${id}`, { token: tenant.key });
    expect(one.body).toEqual(created.body);

    const deleted = await api(gateway.url, "DELETE", `/api/model-groups/${id}`, {
      token: tenant.key,
    });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id, deleted: true });
    expect((await api(gateway.url, "GET", `/api/model-groups/${id}`, { token: tenant.key })).status)
      .toBe(404);
    const again = await api(gateway.url, "DELETE", `/api/model-groups/${id}`, {
      token: tenant.key,
    });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe("model_group_not_found");
    // The name is free again, and requests to it are unknown.
    const gone = await api(gateway.url, "POST", "/v1/chat/completions", {
      token: tenant.key,
      body: { model: "team/chat", messages: [{ role: "user", content: "x" }] },
    });
    expect(gone.status).toBe(404);
    expect(
      (await post({ name: "team/chat", members: ["own-server"], strategy: "fallback" })).status,
    )
      .toBe(201);
  });

  it.each([
    [{ members: ["qwen3-8b"], strategy: "fallback" }, "name"],
    [{ name: "-bad", members: ["qwen3-8b"], strategy: "fallback" }, "name"],
    [{ name: "g1", members: [], strategy: "fallback" }, "members"],
    [{ name: "g1", members: "qwen3-8b", strategy: "fallback" }, "members"],
    [
      { name: "g1", members: Array.from({ length: 17 }, (_, i) => `m${i}`), strategy: "fallback" },
      "members",
    ],
    [{ name: "g1", members: ["qwen3-8b", "qwen3-8b"], strategy: "fallback" }, "members"],
    [{ name: "g1", members: [42], strategy: "fallback" }, "members[0]"],
    [{ name: "g1", members: ["qwen3-8b", "nope"], strategy: "fallback" }, "members[1]"],
    [{ name: "g1", members: ["flux-dev"], strategy: "fallback" }, "members[0]"],
    [{ name: "g1", members: ["qwen3-8b"], strategy: "random" }, "strategy"],
    [{ name: "g1", members: ["qwen3-8b"] }, "strategy"],
    [{ name: "g1", members: ["qwen3-8b"], strategy: "weighted" }, "weights"],
    [{ name: "g1", members: ["qwen3-8b"], strategy: "fallback", weights: [1] }, "weights"],
    [
      { name: "g1", members: ["qwen3-8b", "own-server"], strategy: "weighted", weights: [1] },
      "weights",
    ],
    [{ name: "g1", members: ["qwen3-8b"], strategy: "weighted", weights: [0] }, "weights[0]"],
    [{ name: "g1", members: ["qwen3-8b"], strategy: "weighted", weights: [1.5] }, "weights[0]"],
    [{ name: "g1", members: ["qwen3-8b"], strategy: "fallback", extra: 1 }, "extra"],
  ])("refuses %j naming %s", async (body, param) => {
    const refused = await post(body);
    expect(refused.status).toBe(400);
    expect(refused.body.error.param).toBe(param);
  });

  it("refuses a name a group, a deployment or a catalogue model already has, and groups of groups", async () => {
    await createGroup(gateway, tenant, {
      name: "taken",
      members: ["qwen3-8b"],
      strategy: "fallback",
    });
    for (const name of ["taken", "own-server", "qwen3-8b"]) {
      const refused = await post({ name, members: ["qwen3-8b"], strategy: "fallback" });
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: "model_group_exists", param: "name" });
    }
    const nested = await post({ name: "nested", members: ["taken"], strategy: "fallback" });
    expect(nested.status).toBe(400);
    expect(nested.body.error.message).toMatch(/cannot contain a group/);
    // Two racing creations of one name: exactly one wins.
    const raced = await Promise.all(
      [1, 2, 3].map(() => post({ name: "raced", members: ["qwen3-8b"], strategy: "fallback" })),
    );
    expect(raced.map((response) => response.status).sort()).toEqual([201, 409, 409]);
  });

  it("keeps one account's deployments and groups out of another's", async () => {
    const other = await createTenant(gateway, "1");
    const refused = await post(
      { name: "steal", members: ["own-server"], strategy: "fallback" },
      other.key,
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error.param).toBe("members[0]");
    const mine = await createGroup(gateway, tenant, {
      name: "mine",
      members: ["own-server"],
      strategy: "fallback",
    });
    const peek = await api(gateway.url, "GET", `/api/model-groups/${mine.id}`, {
      token: other.key,
    });
    expect(peek.status).toBe(404);
    const del = await api(gateway.url, "DELETE", `/api/model-groups/${mine.id}`, {
      token: other.key,
    });
    expect(del.status).toBe(404);
    // Another account may use the same group name.
    expect(
      (await post({ name: "mine", members: ["qwen3-8b"], strategy: "fallback" }, other.key)).status,
    )
      .toBe(201);
  });

  it("needs manage to create or delete and read to list", async () => {
    const key = await api(gateway.url, "POST", "/api/keys", {
      token: tenant.key,
      body: { name: "reader", permissions: ["read", "proxy"] },
    });
    const reader = key.body.key as string;
    const refused = await post({ name: "ro", members: ["qwen3-8b"], strategy: "fallback" }, reader);
    expect(refused.status).toBe(403);
    expect((await api(gateway.url, "GET", "/api/model-groups", { token: reader })).status).toBe(
      200,
    );
  });

  it("survives a restart: groups are rebuilt from their events", async () => {
    const group = await createGroup(gateway, tenant, {
      name: "durable",
      members: ["own-server", "qwen3-8b"],
      strategy: "round_robin",
    });
    const store = gateway.app.get<EventStore>(EVENT_STORE);
    const events = await store.readStream(`modelgroup-${group.id}`);
    expect(events.map((event) => event.type)).toEqual(["ModelGroupCreated"]);
    await gateway.close({ keepData: true });
    gateway = await startGroupGateway({}, { dataDir: gateway.dataDir });
    const again = await api(gateway.url, "GET", `/api/model-groups/${group.id}`, {
      token: tenant.key,
    });
    expect(again.body).toEqual(group);
    tenant = { ...tenant, client: clientFor(gateway, tenant) };
    expect(await servedBy(tenant, "durable")).toBe(memberId);
    expect((await post({ name: "durable", members: ["qwen3-8b"], strategy: "fallback" })).status)
      .toBe(409);
  });
});
