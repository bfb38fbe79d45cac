import { dollars, get, when } from "../api.ts";
import { loadBillingSummary } from "../billing-summary.ts";
import { LoadError, useInterval, useLoad } from "../ui.tsx";
import { HealthWord, StatusWord } from "./status.tsx";

export default function OverviewPage() {
  const summary = useLoad(loadBillingSummary);
  const jobs = useLoad(() => get("/api/jobs?limit=5"));
  const deployments = useLoad(() => get("/api/deployments"));
  useInterval(() => deployments.reload(), 5000);
  const s = summary.data;
  return (
    <>
      <section aria-labelledby="money-heading">
        <h2 id="money-heading">Credit</h2>
        <LoadError error={summary.error} what="the balance" />
        <dl class="stats">
          <div>
            <dt>Balance</dt>
            <dd>{s ? dollars(s.balance_usd) : "…"}</dd>
          </div>
          <div>
            <dt>Available</dt>
            <dd>{s ? dollars(s.available_usd) : "…"}</dd>
          </div>
          <div>
            <dt>Spent this month</dt>
            <dd>{s ? (s.complete ? dollars(s.month_spend_usd) : "not reported") : "…"}</dd>
          </div>
          <div>
            <dt>Requests today</dt>
            <dd>{s ? (s.complete ? String(s.requests_today ?? 0) : "not reported") : "…"}</dd>
          </div>
        </dl>
        {s && !s.complete
          ? <p class="muted">This gateway does not report monthly spend or requests yet.</p>
          : null}
      </section>
      <section aria-labelledby="jobs-heading">
        <h2 id="jobs-heading">Recent jobs</h2>
        <LoadError error={jobs.error} what="jobs" />
        {jobs.data?.data.length === 0 ? <p class="muted">No generation jobs yet.</p> : null}
        {jobs.data?.data.length
          ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Kind</th>
                  <th scope="col">Model</th>
                  <th scope="col">Status</th>
                  <th scope="col">Submitted</th>
                </tr>
              </thead>
              <tbody>
                {jobs.data.data.map((job: any) => (
                  <tr key={job.id}>
                    <td>{job.kind}</td>
                    <td>{job.model}</td>
                    <td>
                      <StatusWord status={job.status} />
                    </td>
                    <td>{when(job.submitted_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
          : null}
        <p>
          <a href="/jobs">All jobs</a>
        </p>
      </section>
      <section aria-labelledby="deployments-heading">
        <h2 id="deployments-heading">Your deployments</h2>
        <LoadError error={deployments.error} what="deployments" />
        {deployments.data?.data.length === 0 ? <p class="muted">No deployments yet.</p> : null}
        {deployments.data?.data.length
          ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Model</th>
                  <th scope="col">Status</th>
                  <th scope="col">Health</th>
                </tr>
              </thead>
              <tbody>
                {deployments.data.data.map((deployment: any) => (
                  <tr key={deployment.id}>
                    <td>{deployment.name}</td>
                    <td>{deployment.model}</td>
                    <td>
                      <StatusWord status={deployment.status} />
                    </td>
                    <td>
                      <HealthWord healthy={deployment.healthy} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
          : null}
      </section>
    </>
  );
}
