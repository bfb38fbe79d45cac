import { useEffect, useState } from "preact/hooks";
import { dollars, post } from "../api.ts";
import { type BillingSummary, loadBillingSummary } from "../billing-summary.ts";
import { useLocation } from "../router.ts";
import { Field, LoadError, Notice, useAction, useLoad } from "../ui.tsx";
import { Transactions } from "./transactions.tsx";
import { Usage } from "./usage.tsx";

const CHECKOUT_MESSAGES: Record<string, { kind: "success" | "info"; text: string }> = {
  success: {
    kind: "success",
    text:
      "Payment received. The credits appear here as soon as Stripe confirms the payment, usually within seconds.",
  },
  cancelled: { kind: "info", text: "Checkout was cancelled. Nothing was charged." },
};

export default function BillingPage() {
  const { query } = useLocation();
  const summary = useLoad(loadBillingSummary);
  const checkout = CHECKOUT_MESSAGES[query.get("checkout") ?? ""];
  // After a successful payment the webhook may land a moment later: look again a few times.
  useEffect(() => {
    if (query.get("checkout") !== "success") return;
    const timers = [2000, 5000, 10000].map((ms) => setTimeout(() => summary.reload(), ms));
    return () => timers.forEach(clearTimeout);
  }, []);
  const s = summary.data;
  return (
    <>
      {checkout ? <Notice kind={checkout.kind}>{checkout.text}</Notice> : null}
      <LoadError error={summary.error} what="the balance" />
      <dl class="stats">
        <div>
          <dt>Balance</dt>
          <dd>{s ? dollars(s.balance_usd) : "…"}</dd>
        </div>
        <div>
          <dt>Available credit</dt>
          <dd>{s ? dollars(s.available_usd) : "…"}</dd>
        </div>
        {s?.complete
          ? (
            <div>
              <dt>Spent this month</dt>
              <dd>{dollars(s.month_spend_usd)}</dd>
            </div>
          )
          : null}
      </dl>
      {s && s.balance_usd !== s.available_usd
        ? (
          <p class="muted">
            {dollars(s.balance_usd - s.available_usd)} is held for requests and pods in progress.
          </p>
        )
        : null}
      {s ? <AddFunds summary={s} /> : null}
      <Usage />
      <Transactions />
      <section aria-labelledby="export-heading">
        <h2 id="export-heading">Export</h2>
        <ul class="links">
          <li>
            <a href="/api/billing/transactions?format=csv" download>
              Download transactions (CSV)
            </a>
          </li>
          <li>
            <a href="/api/billing/usage?format=csv&group_by=day" download>
              Download usage by day (CSV)
            </a>
          </li>
          <li>
            <a href="/api/billing/usage?format=csv&group_by=model" download>
              Download usage by model (CSV)
            </a>
          </li>
        </ul>
      </section>
    </>
  );
}

function AddFunds({ summary }: { summary: BillingSummary }) {
  const minimum = summary.minimum_purchase_usd ?? 5;
  const [amount, setAmount] = useState(String(Math.max(minimum, 20)));
  const { busy, error, run } = useAction();
  const value = Number(amount);
  const valid = Number.isFinite(value) && value >= minimum;
  // Unknown on an older gateway: say the bonus applies to a first purchase instead of promising it.
  const bonus = summary.first_purchase_bonus_available;
  const bonusUsd = valid ? Math.round(value * summary.bonus_percent) / 100 : 0;
  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      if (!valid) throw new Error(`The minimum purchase is ${dollars(minimum)}.`);
      const session = await post("/api/billing/checkout", { amount_usd: value });
      if (typeof session?.url !== "string" || !/^https?:\/\//.test(session.url)) {
        throw new Error("The gateway did not return a payment page.");
      }
      location.assign(session.url);
    });
  };
  return (
    <section aria-labelledby="funds-heading">
      <h2 id="funds-heading">Add funds</h2>
      <form class="card stack" onSubmit={submit}>
        <Field label="Amount (USD)" hint={`Minimum ${dollars(minimum)}.`}>
          {(props) => (
            <input
              {...props}
              type="number"
              inputMode="decimal"
              min={minimum}
              max={100000}
              step="0.01"
              required
              value={amount}
              onInput={(event) => setAmount(event.currentTarget.value)}
            />
          )}
        </Field>
        <p role="status">
          {!valid
            ? `Purchases start at ${dollars(minimum)}.`
            : bonus === true
            ? `First purchase: ${summary.bonus_percent}% bonus. You pay ${
              dollars(value)
            } and receive ${dollars(value + bonusUsd)} of credit.`
            : bonus === false
            ? `You pay ${dollars(value)} and receive ${dollars(value)} of credit.`
            : `You pay ${
              dollars(value)
            }. A first purchase earns a ${summary.bonus_percent}% bonus (${
              dollars(bonusUsd)
            } here).`}
        </p>
        {error ? <Notice kind="error">{error}</Notice> : null}
        <p>
          <button type="submit" class="primary" disabled={busy || !valid}>Add funds</button>
        </p>
        <p class="muted">You will be taken to Stripe to pay, then brought back here.</p>
      </form>
    </section>
  );
}
