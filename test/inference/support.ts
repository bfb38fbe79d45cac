import OpenAI from "openai";
import {
  EVENT_STORE,
  type EventStore,
  type RecordedEvent,
} from "../../src/event-store/event-store.port.ts";
import { UsageRecorder } from "../../src/inference/usage-recorder.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

export interface Tenant {
  accountId: string;
  key: string;
  client: OpenAI;
  /** The same client on the `/api/v1` prefix. */
  apiClient: OpenAI;
}

export async function startGateway(env: Record<string, string> = {}): Promise<TestApp> {
  return await startTestApp({ env: { ALLOW_PRIVATE_UPSTREAMS: "true", ...env } });
}

/** A fresh account with a proxy+read+manage key and optional credit. */
export async function createTenant(gateway: TestApp, creditUsd?: string): Promise<Tenant> {
  const email = `user-${Math.random().toString(36).slice(2)}@example.com`;
  const account = await api(gateway.url, "POST", "/admin/accounts", {
    token: TEST_ADMIN_KEY,
    body: { email },
  });
  if (account.status >= 300) {
    throw new Error(`account: ${account.status} ${JSON.stringify(account.body)}`);
  }
  const accountId = account.body.id as string;
  const key = await api(gateway.url, "POST", `/admin/accounts/${accountId}/api-keys`, {
    token: TEST_ADMIN_KEY,
    body: { name: "test", permissions: ["read", "proxy", "manage"] },
  });
  if (key.status >= 300) throw new Error(`key: ${key.status} ${JSON.stringify(key.body)}`);
  if (creditUsd) {
    const credit = await api(gateway.url, "POST", `/admin/accounts/${accountId}/credits`, {
      token: TEST_ADMIN_KEY,
      body: { amount_usd: Number(creditUsd), reason: "test credit" },
    });
    if (credit.status >= 300) {
      throw new Error(`credit: ${credit.status} ${JSON.stringify(credit.body)}`);
    }
  }
  return {
    accountId,
    key: key.body.key,
    client: new OpenAI({ apiKey: key.body.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 }),
    apiClient: new OpenAI({
      apiKey: key.body.key,
      baseURL: `${gateway.url}/api/v1`,
      maxRetries: 0,
    }),
  };
}

export async function registerExternal(
  gateway: TestApp,
  tenant: Tenant,
  body: { name: string; model: string; base_url: string; api_key?: string },
): Promise<{ status: number; body: any }> {
  return await api(gateway.url, "POST", "/api/deployments", {
    token: tenant.key,
    body: { provider: "external", ...body },
  });
}

export async function balanceUsd(gateway: TestApp, accountId: string): Promise<number> {
  const account = await api(gateway.url, "GET", `/admin/accounts/${accountId}`, {
    token: TEST_ADMIN_KEY,
  });
  return account.body.balance_usd;
}

/** Every inference event stored so far (after the recorder has flushed). */
export async function inferenceEvents(gateway: TestApp): Promise<RecordedEvent[]> {
  await gateway.app.get(UsageRecorder).flush();
  const store = gateway.app.get<EventStore>(EVENT_STORE);
  return await store.readAll({ filter: { streamPrefixes: ["inference-"] }, maxCount: 10_000 });
}

export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 3_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Raw SSE frames of a streamed request (what a client receives on the wire). */
export async function rawStream(
  url: string,
  key: string,
  body: unknown,
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

export function dataFrames(text: string): string[] {
  return text.split("\n\n").filter((frame) => frame.startsWith("data: ")).map((frame) =>
    frame.slice(6)
  );
}
