import { useState } from "preact/hooks";
import { dollars, get, post, when } from "../api.ts";
import { LoadError, Notice, TextField, useAction, useLoad } from "../ui.tsx";

interface AccountRow {
  id: string;
  email: string | null;
  created_at: string;
  disabled?: boolean;
  balance_usd?: number;
}

/** Accounts by email search, with credit grants and disable/enable. */
export function AdminAccounts({ adminKey }: { adminKey: string }) {
  const [draft, setDraft] = useState("");
  const [query, setQuery] = useState("");
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const list = useLoad(() => {
    const params = new URLSearchParams({ limit: "20" });
    if (query) params.set("q", query);
    if (cursor) params.set("cursor", cursor);
    return get(`/admin/accounts?${params}`, { bearer: adminKey });
  }, [query, cursor, adminKey]);
  const rows: AccountRow[] = list.data?.data ?? [];
  return (
    <section aria-labelledby="accounts-heading">
      <h2 id="accounts-heading">Accounts</h2>
      <form
        class="row"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setCursors([]);
          setQuery(draft.trim());
        }}
      >
        <TextField
          label="Search accounts"
          type="search"
          maxLength={254}
          value={draft}
          onValue={setDraft}
        />
        <button type="submit">Search</button>
      </form>
      <LoadError error={list.error} what="accounts" />
      {list.data && rows.length === 0 ? <p class="muted">No accounts match.</p> : null}
      {rows.length
        ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Created</th>
                <th scope="col" class="number">Balance</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <AccountRowView
                  key={row.id}
                  row={row}
                  adminKey={adminKey}
                  onChanged={() => list.reload()}
                />
              ))}
            </tbody>
          </table>
        )
        : null}
      <div class="row">
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Previous accounts
        </button>
        <button
          type="button"
          disabled={!list.data?.next_cursor}
          onClick={() => setCursors([...cursors, list.data.next_cursor])}
        >
          More accounts
        </button>
      </div>
    </section>
  );
}

function AccountRowView(
  { row, adminKey, onChanged }: { row: AccountRow; adminKey: string; onChanged: () => void },
) {
  const [granting, setGranting] = useState(false);
  const [amount, setAmount] = useState("10");
  const [reason, setReason] = useState("");
  const [done, setDone] = useState<string | undefined>();
  const { busy, error, run } = useAction();
  const id = encodeURIComponent(row.id);
  const grant = (event: Event) => {
    event.preventDefault();
    run(async () => {
      const value = Number(amount);
      if (!Number.isFinite(value) || value === 0) throw new Error("Enter a non-zero amount.");
      await post(`/admin/accounts/${id}/credits`, { amount_usd: value, reason }, {
        bearer: adminKey,
      });
      setDone(`${value > 0 ? "Granted" : "Corrected by"} ${dollars(value)}.`);
      setGranting(false);
      onChanged();
    });
  };
  const toggleDisabled = () =>
    run(async () => {
      await post(`/admin/accounts/${id}/${row.disabled ? "enable" : "disable"}`, {}, {
        bearer: adminKey,
      });
      onChanged();
    });
  return (
    <tr>
      <th scope="row">
        {row.email ?? <span class="muted">no email</span>}
        <div class="mono small muted">{row.id}</div>
      </th>
      <td>{when(row.created_at)}</td>
      <td class="number">{row.balance_usd === undefined ? "—" : dollars(row.balance_usd)}</td>
      <td>{row.disabled ? <span class="status status-failed">disabled</span> : "active"}</td>
      <td class="actions">
        <button type="button" aria-expanded={granting} onClick={() => setGranting(!granting)}>
          Grant credit
        </button>
        <button
          type="button"
          class={row.disabled ? "" : "danger"}
          disabled={busy}
          onClick={toggleDisabled}
        >
          {row.disabled ? "Enable" : "Disable"}
        </button>
        {granting
          ? (
            <form
              class="panel stack"
              onSubmit={grant}
              aria-label={`Grant credit to ${row.email ?? row.id}`}
            >
              <TextField
                label="Amount (USD)"
                hint="Negative to correct a balance."
                type="number"
                step="0.01"
                min={-1000000}
                max={1000000}
                required
                value={amount}
                onValue={setAmount}
              />
              <TextField
                label="Reason"
                required
                maxLength={500}
                value={reason}
                onValue={setReason}
              />
              <p>
                <button type="submit" class="primary" disabled={busy}>Grant</button>
              </p>
            </form>
          )
          : null}
        {done ? <Notice kind="success">{done}</Notice> : null}
        {error ? <Notice kind="error">{error}</Notice> : null}
      </td>
    </tr>
  );
}
