import { useState } from "preact/hooks";
import { dollars, get, when } from "../api.ts";
import { LoadError, Pager, useLoad } from "../ui.tsx";

const PAGE_SIZE = 20;

/** Newest first, a page at a time; the cursors walked so far make "Newer" possible. */
export function Transactions() {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const page = useLoad(
    () =>
      get(
        `/api/billing/transactions?limit=${PAGE_SIZE}${
          cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""
        }`,
      ),
    [cursor],
  );
  const rows: any[] = page.data?.data ?? [];
  return (
    <section aria-labelledby="transactions-heading">
      <h2 id="transactions-heading">Transactions</h2>
      <LoadError error={page.error} what="transactions" />
      {page.data && rows.length === 0 ? <p class="muted">No transactions yet.</p> : null}
      {rows.length
        ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Type</th>
                <th scope="col">Description</th>
                <th scope="col">Model</th>
                <th scope="col" class="number">Amount</th>
                <th scope="col" class="number">Balance after</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.id}>
                  <td>{when(row.created_at)}</td>
                  <td>{row.type}</td>
                  <td>{row.description ?? row.reference ?? ""}</td>
                  <td>{row.model ?? ""}</td>
                  <td class="number">{dollars(row.amount_usd)}</td>
                  <td class="number">{dollars(row.balance_after_usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
        : null}
      <Pager cursors={cursors} next={page.data?.next_cursor} onChange={setCursors} showPage />
    </section>
  );
}
