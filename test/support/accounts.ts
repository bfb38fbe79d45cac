import { api, TEST_ADMIN_KEY } from "./test-app.ts";

/**
 * Accounts, keys and credits for e2e specs, created over HTTP through the admin API exactly as
 * an operator would. Every helper throws with the response when the gateway refuses, so a spec
 * fails at set-up with the reason rather than later with a confusing 401 or 402.
 */

export const ALL_PERMISSIONS = ["read", "proxy", "manage"];

export interface TestAccount {
  accountId: string;
  /** An API key of the account (every permission unless asked otherwise). */
  key: string;
}

/** A random address, for specs that need many accounts and don't care which. */
export function randomEmail(prefix = "user"): string {
  return `${prefix}-${Math.random().toString(36).slice(2)}@example.com`;
}

/** An API key of an existing account. */
export async function createApiKey(
  url: string,
  accountId: string,
  options: { name?: string; permissions?: string[] } = {},
): Promise<string> {
  const key = await api(url, "POST", `/admin/accounts/${accountId}/api-keys`, {
    token: TEST_ADMIN_KEY,
    body: { name: options.name ?? "test", permissions: options.permissions ?? ALL_PERMISSIONS },
  });
  if (key.status !== 201) throw new Error(`create key: ${key.status} ${JSON.stringify(key.body)}`);
  return key.body.key;
}

/** An account with an API key holding every permission. */
export async function createAccountWithKey(url: string, email: string): Promise<TestAccount> {
  const account = await api(url, "POST", "/admin/accounts", {
    token: TEST_ADMIN_KEY,
    body: { email },
  });
  if (account.status !== 201) {
    throw new Error(`create account: ${account.status} ${JSON.stringify(account.body)}`);
  }
  const accountId = account.body.id as string;
  return { accountId, key: await createApiKey(url, accountId) };
}

/** Grants (or, negative, corrects) credits; answers the response so specs can check refusals. */
export async function grantUsd(
  url: string,
  accountId: string,
  amountUsd: number,
  reason = "test credits",
) {
  return await api(url, "POST", `/admin/accounts/${accountId}/credits`, {
    token: TEST_ADMIN_KEY,
    body: { amount_usd: amountUsd, reason },
  });
}

/** An account with `usd` of credits (none when 0) and a key holding every permission. */
export async function fundedAccount(url: string, email: string, usd = 10): Promise<TestAccount> {
  const account = await createAccountWithKey(url, email);
  if (usd > 0) {
    const granted = await grantUsd(url, account.accountId, usd);
    if (granted.status >= 300) {
      throw new Error(`grant: ${granted.status} ${JSON.stringify(granted.body)}`);
    }
  }
  return account;
}

/** A self-service account as a new user makes one: its id and a session token. */
export interface SignedUpAccount {
  accountId: string;
  token: string;
}

/** Signs up over the public API (no admin key), as a stranger would. */
export async function signUp(
  url: string,
  email: string,
  password: string,
): Promise<SignedUpAccount> {
  const response = await api(url, "POST", "/api/auth/signup", { body: { email, password } });
  if (response.status !== 201) {
    throw new Error(`signup: ${response.status} ${JSON.stringify(response.body)}`);
  }
  return { accountId: response.body.account_id, token: response.body.token };
}
