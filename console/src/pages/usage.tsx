import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { dollars, get } from "../api.ts";
import { LoadError, useLoad } from "../ui.tsx";
import type { DayPoint } from "./usage-chart.tsx";

const DAYS = 30;
const DAY_MS = 86_400_000;

/** Every day of the window, zero where nothing was spent, so the chart's x axis has no gaps. */
function fillDays(rows: Array<{ day: string; cost_usd: number; requests: number }>): DayPoint[] {
  const byDay = new Map(rows.map((row) => [row.day, row]));
  const today = Date.UTC(
    new Date().getUTCFullYear(),
    new Date().getUTCMonth(),
    new Date().getUTCDate(),
  );
  const points: DayPoint[] = [];
  for (let i = DAYS - 1; i >= 0; i--) {
    const day = new Date(today - i * DAY_MS).toISOString().slice(0, 10);
    const row = byDay.get(day);
    points.push({ day, cost: row?.cost_usd ?? 0, requests: row?.requests ?? 0 });
  }
  return points;
}

export function Usage() {
  const from = new Date(Date.now() - (DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
  const byDay = useLoad(() => get(`/api/billing/usage?group_by=day&from=${from}`));
  const byModel = useLoad(() => get(`/api/billing/usage?group_by=model&from=${from}`));
  const points = byDay.data ? fillDays(byDay.data.data) : undefined;
  return (
    <section aria-labelledby="usage-heading">
      <h2 id="usage-heading">Usage, last {DAYS} days</h2>
      <LoadError error={byDay.error} what="usage by day" />
      {points ? <LazyChart points={points} /> : null}
      <h3>By model</h3>
      <LoadError error={byModel.error} what="usage by model" />
      {byModel.data?.data.length === 0 ? <p class="muted">No usage in this period.</p> : null}
      {byModel.data?.data.length
        ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col" class="number">Requests</th>
                <th scope="col" class="number">Refunds</th>
                <th scope="col" class="number">Cost</th>
              </tr>
            </thead>
            <tbody>
              {byModel.data.data.map((row: any) => (
                <tr key={row.model}>
                  <th scope="row">{row.model}</th>
                  <td class="number">{row.requests}</td>
                  <td class="number">{row.refunds}</td>
                  <td class="number">{dollars(row.cost_usd)}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                <td />
                <td />
                <td class="number">{dollars(byModel.data.total_cost_usd)}</td>
              </tr>
            </tfoot>
          </table>
        )
        : null}
    </section>
  );
}

/** uPlot (about 20 KB compressed) loads only when a chart is shown. */
function LazyChart({ points }: { points: DayPoint[] }) {
  const [Chart, setChart] = useState<ComponentType<{ points: DayPoint[] }> | undefined>();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    import("./usage-chart.tsx").then(
      (module) => setChart(() => module.UsageChart),
      () => setFailed(true),
    );
  }, []);
  const total = points.reduce((sum, point) => sum + point.cost, 0);
  return (
    <figure class="chart">
      {Chart ? <Chart points={points} /> : failed ? null : <p class="muted">Loading chart…</p>}
      <figcaption>
        Spend per day (UTC): {dollars(total)} over {DAYS} days, {daysWithUsage(points)}.
      </figcaption>
    </figure>
  );
}

function daysWithUsage(points: Array<{ cost: number }>): string {
  const days = points.filter((point) => point.cost !== 0).length;
  return days === 1 ? "on 1 day with usage" : `on ${days} days with usage`;
}
