import { ManualClock } from "../../src/common/clock.ts";
import { PendingSettlements } from "../../src/inference/pending-settlements.ts";
import { api, startTestApp, type TestApp } from "../support/test-app.ts";
import {
  createTenant,
  inferenceEvents,
  registerExternal,
  type Tenant,
} from "../inference/support.ts";
import type { LocalUpstream } from "../support/upstreams/openai-upstream.ts";

export { api, createTenant, inferenceEvents, type Tenant };

/** The gateway with a clock the test moves (cooldowns), private upstreams allowed. */
export async function startGroupGateway(
  env: Record<string, string> = {},
  options: { clock?: ManualClock; dataDir?: string } = {},
): Promise<TestApp> {
  return await startTestApp({
    clock: options.clock,
    dataDir: options.dataDir,
    env: {
      ALLOW_PRIVATE_UPSTREAMS: "true",
      RECONCILE_INTERVAL_MS: "3600000",
      METERING_INTERVAL_MS: "3600000",
      ...env,
    },
  });
}

/** A clock at the wall time (ledger holds and sessions stay plausible), moved by hand. */
export const wallClock = () => new ManualClock(new Date());

/** Registers `upstream` as the tenant's external deployment `name`; answers its id. */
export async function external(
  gateway: TestApp,
  tenant: Tenant,
  name: string,
  upstream: LocalUpstream,
): Promise<string> {
  const created = await registerExternal(gateway, tenant, {
    name,
    model: upstream.knobs.models[0],
    base_url: upstream.baseUrl,
  });
  if (created.status !== 201) throw new Error(`register: ${JSON.stringify(created.body)}`);
  return created.body.id;
}

export async function createGroup(
  gateway: TestApp,
  tenant: Tenant,
  body: Record<string, unknown>,
): Promise<any> {
  const created = await api(gateway.url, "POST", "/api/model-groups", { token: tenant.key, body });
  if (created.status !== 201) {
    throw new Error(`group: ${created.status} ${JSON.stringify(created.body)}`);
  }
  return created.body;
}

/** Which deployment answered a non-streamed chat to `model`. */
export async function servedBy(tenant: Tenant, model: string): Promise<string> {
  const completion = await tenant.client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "hi" }],
  });
  return (completion as any).x_modelpilot.deployment_id;
}

/** The account's available balance in micro-dollars once every settlement has landed. */
export async function settledBalanceMicros(gateway: TestApp, tenant: Tenant): Promise<number> {
  await gateway.app.get(PendingSettlements).drain();
  const balance = await api(gateway.url, "GET", "/api/billing/balance", { token: tenant.key });
  return Math.round(balance.body.available_usd * 1_000_000);
}
