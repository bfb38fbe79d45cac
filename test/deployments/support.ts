import OpenAI from "openai";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../../src/common/clock.ts";
import {
  EVENT_STORE,
  type EventStore,
  type RecordedEvent,
} from "../../src/event-store/event-store.port.ts";
import { PodMetering } from "../../src/deployments/pods/pod-metering.ts";
import {
  PodProvisioner,
  type ProvisionerOptions,
} from "../../src/deployments/pods/pod-provisioner.ts";
import { PodReconciler } from "../../src/deployments/pods/pod-reconciler.ts";
import {
  type RunpodSimulator,
  type SimulatorOptions,
  startRunpodSimulator,
} from "../support/runpod-sim/index.ts";
import { fundedAccount, randomEmail } from "../support/accounts.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

export const RUNPOD_TEST_KEY = "rp-test-key-do-not-log-0123456789";

export { api, TEST_ADMIN_KEY };

export async function startSim(options: SimulatorOptions = {}): Promise<RunpodSimulator> {
  return await startRunpodSimulator({ apiKey: RUNPOD_TEST_KEY, ...options });
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), "modelpilot-deployments-"));
}

/** The gateway pointed at the simulator; background loops effectively off (tests call them). */
export async function startGateway(
  sim: RunpodSimulator,
  options: {
    clock?: Clock;
    dataDir?: string;
    env?: Record<string, string>;
    provisioner?: Partial<ProvisionerOptions>;
  } = {},
): Promise<TestApp> {
  const gateway = await startTestApp({
    clock: options.clock,
    dataDir: options.dataDir,
    env: {
      RUNPOD_REST_URL: sim.restUrl,
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
      RUNPOD_API_KEY: RUNPOD_TEST_KEY,
      ALLOW_PRIVATE_UPSTREAMS: "true",
      RECONCILE_INTERVAL_MS: "3600000",
      METERING_INTERVAL_MS: "3600000",
      ...options.env,
    },
  });
  gateway.app.get(PodProvisioner).configure({
    pollIntervalMs: 20,
    maxPollIntervalMs: 100,
    ...options.provisioner,
  });
  return gateway;
}

export interface Tenant {
  accountId: string;
  key: string;
  client: OpenAI;
}

/** A fresh account with every permission, `creditUsd` of credits and an SDK client. */
export async function createTenant(gateway: TestApp, creditUsd = 0): Promise<Tenant> {
  const { accountId, key } = await fundedAccount(gateway.url, randomEmail("pods"), creditUsd);
  return { accountId, key, client: clientFor(gateway, { key }) };
}

/** A gateway bound to another (restarted) app keeps the tenant's key. */
export function clientFor(gateway: TestApp, tenant: Pick<Tenant, "key">): OpenAI {
  return new OpenAI({
    apiKey: tenant.key,
    baseURL: `${gateway.url}/v1`,
    maxRetries: 0,
    timeout: 10_000,
  });
}

export async function deploy(gateway: TestApp, tenant: Tenant, body: Record<string, unknown>) {
  return await api(gateway.url, "POST", "/api/deployments", { token: tenant.key, body });
}

export async function getDeployment(gateway: TestApp, tenant: Tenant, id: string) {
  return await api(gateway.url, "GET", `/api/deployments/${id}`, { token: tenant.key });
}

export async function waitForStatus(
  gateway: TestApp,
  tenant: Tenant,
  id: string,
  status: string,
  timeoutMs = 5_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  for (;;) {
    last = (await getDeployment(gateway, tenant, id)).body;
    if (last?.status === status) return last;
    if (Date.now() > deadline) {
      throw new Error(
        `deployment ${id} is ${last?.status} (${JSON.stringify(last)}), not ${status}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function streamEvents(gateway: TestApp, id: string): Promise<RecordedEvent[]> {
  return await gateway.app.get<EventStore>(EVENT_STORE).readStream(`deployment-${id}`);
}

export async function allEvents(gateway: TestApp, types: string[]): Promise<RecordedEvent[]> {
  return await gateway.app.get<EventStore>(EVENT_STORE).readAll({
    filter: { eventTypes: types },
    maxCount: 100_000,
  });
}

export async function chat(client: OpenAI, model: string): Promise<string> {
  const completion = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Say hello" }],
  });
  return completion.choices[0].message.content ?? "";
}

export async function chatError(client: OpenAI, model: string): Promise<any> {
  try {
    await chat(client, model);
  } catch (error) {
    return error;
  }
  throw new Error("chat succeeded but an error was expected");
}

export const reconcilerOf = (gateway: TestApp) => gateway.app.get(PodReconciler);
export const meteringOf = (gateway: TestApp) => gateway.app.get(PodMetering);
export const provisionerOf = (gateway: TestApp) => gateway.app.get(PodProvisioner);
