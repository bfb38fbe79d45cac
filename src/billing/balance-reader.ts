/**
 * Lets the admin accounts API show a live balance without the auth module depending on billing.
 * Billing provides it globally; when absent the balance shows 0.
 */
export interface AccountBalanceReader {
  /** Live balance in micro-dollars (waits for the ledger projection to be current). */
  balanceMicros(accountId: string): Promise<number>;
}

export const ACCOUNT_BALANCE_READER = Symbol("ACCOUNT_BALANCE_READER");
