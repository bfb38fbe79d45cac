import { useState } from "preact/hooks";
import { get, post, when } from "../api.ts";
import { LoadError, Notice, TextField, useAction, useInterval, useLoad } from "../ui.tsx";

/** Read models with their checkpoint and lag; Rebuild replays one from the first event. */
export function AdminProjections({ adminKey }: { adminKey: string }) {
  const list = useLoad(() => get("/admin/projections", { bearer: adminKey }), [adminKey]);
  useInterval(() => list.reload(), 5000);
  const [done, setDone] = useState<string | undefined>();
  const { busy, error, run } = useAction();
  const rebuild = (name: string) =>
    run(async () => {
      const result = await post(`/admin/projections/${encodeURIComponent(name)}/rebuild`, {}, {
        bearer: adminKey,
      });
      setDone(`Rebuilt ${name} in ${result.duration_ms} ms.`);
      await list.reload();
    });
  return (
    <section aria-labelledby="projections-heading">
      <h2 id="projections-heading">Projections</h2>
      <LoadError error={list.error} what="projections" />
      {done ? <Notice kind="success">{done}</Notice> : null}
      {error ? <Notice kind="error">{error}</Notice> : null}
      {list.data
        ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col" class="number">Checkpoint</th>
                <th scope="col" class="number">Head</th>
                <th scope="col" class="number">Lag</th>
                <th scope="col">Error</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((projection: any) => (
                <tr key={projection.name}>
                  <th scope="row" class="mono">{projection.name}</th>
                  <td>{projection.state}</td>
                  <td class="number">{projection.checkpoint}</td>
                  <td class="number">{projection.head}</td>
                  <td class="number">{projection.lag}</td>
                  <td>{projection.error ?? ""}</td>
                  <td>
                    <button type="button" disabled={busy} onClick={() => rebuild(projection.name)}>
                      Rebuild
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
        : null}
    </section>
  );
}

const EVENT_PAGE = 50;

/** The global event log in position order, filtered by stream prefix and type. */
export function AdminEvents({ adminKey }: { adminKey: string }) {
  const [prefix, setPrefix] = useState("");
  const [type, setType] = useState("");
  const [filters, setFilters] = useState({ prefix: "", type: "" });
  const [afters, setAfters] = useState<string[]>([]);
  const after = afters.at(-1);
  const page = useLoad(() => {
    const params = new URLSearchParams({ limit: String(EVENT_PAGE) });
    if (after) params.set("after", after);
    if (filters.prefix) params.set("stream_prefix", filters.prefix);
    if (filters.type) params.set("type", filters.type);
    return get(`/admin/events?${params}`, { bearer: adminKey });
  }, [filters, after, adminKey]);
  const events: any[] = page.data?.data ?? [];
  return (
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Events</h2>
      <form
        class="row"
        onSubmit={(event) => {
          event.preventDefault();
          setAfters([]);
          setFilters({ prefix: prefix.trim(), type: type.trim() });
        }}
      >
        <TextField
          label="Stream prefix"
          hint="e.g. account- or deployment-"
          maxLength={200}
          value={prefix}
          onValue={setPrefix}
        />
        <TextField
          label="Event types"
          hint="Comma-separated, e.g. CreditsPurchased"
          maxLength={1000}
          value={type}
          onValue={setType}
        />
        <button type="submit">Filter</button>
      </form>
      <LoadError error={page.error} what="events" />
      {page.data && events.length === 0 ? <p class="muted">No events here.</p> : null}
      {events.length
        ? (
          <table>
            <thead>
              <tr>
                <th scope="col" class="number">Position</th>
                <th scope="col">Type</th>
                <th scope="col">Stream</th>
                <th scope="col">Recorded</th>
                <th scope="col">Data</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.id}>
                  <td class="number">{event.position}</td>
                  <td>{event.type}</td>
                  <td class="mono small">{event.stream}@{event.revision}</td>
                  <td>{when(event.created_at)}</td>
                  <td>
                    <details>
                      <summary>Show</summary>
                      <pre class="mono small">{JSON.stringify({ data: event.data, metadata: event.metadata }, null, 2)}</pre>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
        : null}
      <div class="row">
        <button type="button" disabled={afters.length === 0} onClick={() => setAfters([])}>
          First events
        </button>
        <button
          type="button"
          disabled={!page.data?.has_more}
          onClick={() => setAfters([...afters, page.data.next_after])}
        >
          Later events
        </button>
      </div>
    </section>
  );
}
