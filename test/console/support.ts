import type { BrowserContext, Page } from "playwright-core";
import { PodProvisioner } from "../../src/deployments/pods/pod-provisioner.ts";
import { type FakeStripe, startFakeStripe } from "../billing/support/fake-stripe.ts";
import { launchBrowser, type LaunchedBrowser, watchPageErrors } from "../support/browser.ts";
import { type RunpodSimulator, startRunpodSimulator } from "../support/runpod-sim/index.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

export { api, TEST_ADMIN_KEY };

const SIM_KEY = "sim-runpod-key-console-0123456789";
export const PASSWORD = "correct horse battery staple";

/** Everything a user touches, real: the gateway, the RunPod simulator, a fake Stripe, chromium. */
export interface ConsoleStack {
  gateway: TestApp;
  url: string;
  sim: RunpodSimulator;
  stripe: FakeStripe;
  chromium: LaunchedBrowser;
  close(): Promise<void>;
}

/** `env` is layered over the stack's settings (e.g. sign-in providers for the screenshots). */
export async function startConsoleStack(
  options: { env?: Record<string, string> } = {},
): Promise<ConsoleStack> {
  // console/dist is built (when stale) by jest's global setup (scripts/console-build.ts).
  const sim = await startRunpodSimulator({ apiKey: SIM_KEY, executionMs: 20, coldStartMs: 100 });
  const stripe = await startFakeStripe();
  const gateway = await startTestApp({
    env: {
      RUNPOD_API_URL: sim.serverlessUrl,
      RUNPOD_REST_URL: sim.restUrl,
      RUNPOD_POD_PROXY_URL: sim.podProxyTemplate,
      RUNPOD_API_KEY: SIM_KEY,
      ALLOW_PRIVATE_UPSTREAMS: "true",
      GENERATION_SYNC_WAIT_MS: "5000",
      JOB_POLL_INTERVAL_MS: "50",
      // The console's own polling shows status changes; the reconciler is not what's tested.
      RECONCILE_INTERVAL_MS: "3600000",
      METERING_INTERVAL_MS: "3600000",
      STRIPE_SECRET_KEY: "sk_test_fake",
      STRIPE_WEBHOOK_SECRET: "whsec_test_console_0123456789",
      STRIPE_API_BASE_URL: stripe.url,
      ...options.env,
    },
  });
  gateway.app.get(PodProvisioner).configure({ pollIntervalMs: 20, maxPollIntervalMs: 100 });
  const chromium = await launchBrowser();
  return {
    gateway,
    url: gateway.url,
    sim,
    stripe,
    chromium,
    async close() {
      await chromium.close();
      await gateway.close();
      await sim.close();
      await stripe.close();
    },
  };
}

/** A fresh browser profile-within-the-browser: its own cookies, one page, errors watched. */
export interface UserSession {
  context: BrowserContext;
  page: Page;
  errors: string[];
}

export async function newSession(stack: ConsoleStack): Promise<UserSession> {
  const context = await stack.chromium.newContext();
  const page = await context.newPage();
  return { context, page, errors: watchPageErrors(page) };
}

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${
    Math.random().toString(36).slice(2, 6)
  }@example.com`;
}

/** Signs up through the console's form and waits for the signed-in navigation. */
export async function signUpInBrowser(page: Page, url: string, email: string): Promise<void> {
  await page.goto(`${url}/signup`);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("link", { name: "Overview" }).waitFor();
}

/** Logs in through the console's form. */
export async function logInInBrowser(
  page: Page,
  url: string,
  email: string,
  password = PASSWORD,
): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("link", { name: "Overview" }).waitFor();
}

/** The signed-in account, read with the context's own cookie (as the console does). */
export async function currentAccount(
  context: BrowserContext,
  url: string,
): Promise<{ status: number; body: any }> {
  const response = await context.request.get(`${url}/api/account`);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status(), body };
}

/** Credits granted by the operator through the admin API, as in the README's first tour. */
export async function grantCredits(url: string, accountId: string, usd: number): Promise<void> {
  const granted = await api(url, "POST", `/admin/accounts/${accountId}/credits`, {
    token: TEST_ADMIN_KEY,
    body: { amount_usd: usd, reason: "console test" },
  });
  if (granted.status >= 300) {
    throw new Error(`grant: ${granted.status} ${JSON.stringify(granted.body)}`);
  }
}

/** Opens a page through the navigation bar, as a user would (no typed URLs). */
export async function openFromNav(page: Page, name: string): Promise<void> {
  await page.getByRole("navigation").getByRole("link", { name, exact: true }).click();
  await page.getByRole("heading", { name, level: 1 }).waitFor();
}

/** Polls `check` until it holds (bounded), for what the page fills in or refreshes by itself. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
