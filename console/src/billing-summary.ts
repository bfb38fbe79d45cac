import { ApiFailure, get } from "./api.ts";

export interface BillingSummary {
  balance_usd: number;
  available_usd: number;
  month_spend_usd?: number;
  requests_today?: number;
  first_purchase_bonus_available?: boolean;
  minimum_purchase_usd: number;
  bonus_percent: number;
  /** False when only the balance could be read (a gateway without /api/billing/summary). */
  complete: boolean;
}

/** The summary, or on an older gateway the balance alone with the documented purchase terms. */
export async function loadBillingSummary(): Promise<BillingSummary> {
  try {
    return { ...await get("/api/billing/summary"), complete: true };
  } catch (error) {
    if (!(error instanceof ApiFailure) || !error.missingRoute) throw error;
  }
  const balance = await get("/api/billing/balance");
  return {
    balance_usd: balance.balance_usd,
    available_usd: balance.available_usd,
    minimum_purchase_usd: 5,
    bonus_percent: 50,
    complete: false,
  };
}
