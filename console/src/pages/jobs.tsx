import { useState } from "preact/hooks";
import { dollars, get, when } from "../api.ts";
import { LoadError, Pager, useInterval, useLoad } from "../ui.tsx";
import { StatusWord } from "./status.tsx";

const PAGE_SIZE = 20;

/** The account's generation jobs, newest first; running ones refresh by themselves. */
export default function JobsPage() {
  const [pages, setPages] = useState<string[]>([]);
  const before = pages.at(-1);
  const list = useLoad(
    () =>
      get(`/api/jobs?limit=${PAGE_SIZE}${before ? `&before=${encodeURIComponent(before)}` : ""}`),
    [before],
  );
  const rows: any[] = list.data?.data ?? [];
  useInterval(() => {
    if (rows.some((job) => job.status === "processing")) list.reload();
  }, 3000);
  return (
    <>
      <LoadError error={list.error} what="jobs" />
      {list.data && rows.length === 0
        ? (
          <p class="muted">
            No generation jobs yet. Try the <a href="/playground">Playground</a>.
          </p>
        )
        : null}
      {rows.length
        ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Submitted</th>
                <th scope="col">Kind</th>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col" class="number">Cost</th>
                <th scope="col">Finished</th>
                <th scope="col">Job id</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((job) => (
                <tr key={job.id}>
                  <td>{when(job.submitted_at)}</td>
                  <td>{job.kind}</td>
                  <td>{job.model}</td>
                  <td>
                    <StatusWord status={job.status} />
                    {job.error ? <div class="muted">{job.error}</div> : null}
                  </td>
                  <td class="number">{dollars(job.cost)}</td>
                  <td>{when(job.finished_at)}</td>
                  <td class="mono small">{job.id}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
        : null}
      <Pager cursors={pages} next={list.data?.next_before} onChange={setPages} />
    </>
  );
}
