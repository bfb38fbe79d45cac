import { api, TEST_ADMIN_KEY } from "../../support/test-app.ts";

/** An account with an API key holding every permission, created over HTTP. */
export async function createAccountWithKey(
  url: string,
  email: string,
): Promise<{ accountId: string; key: string }> {
  const account = await api(url, "POST", "/admin/accounts", {
    token: TEST_ADMIN_KEY,
    body: { email },
  });
  if (account.status !== 201) {
    throw new Error(`create account: ${account.status} ${JSON.stringify(account.body)}`);
  }
  const key = await api(url, "POST", `/admin/accounts/${account.body.id}/api-keys`, {
    token: TEST_ADMIN_KEY,
    body: { name: "billing-test", permissions: ["read", "proxy", "manage"] },
  });
  if (key.status !== 201) throw new Error(`create key: ${key.status} ${JSON.stringify(key.body)}`);
  return { accountId: account.body.id, key: key.body.key };
}

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
