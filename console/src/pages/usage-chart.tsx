import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { dollars } from "../api.ts";

export interface DayPoint {
  day: string;
  cost: number;
  requests: number;
}

/** Spend per day as bars. The figure's caption and the CSV carry the same numbers as text. */
export function UsageChart({ points }: { points: DayPoint[] }) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const xs = points.map((point) => Date.parse(`${point.day}T00:00:00Z`) / 1000);
    // A day without spend has no bar (null), rather than a flat line along the baseline.
    const costs = points.map((point) => (point.cost === 0 ? null : point.cost));
    const halfDay = 43_200;
    const width = () => Math.max(280, element.clientWidth);
    const chart = new uPlot(
      {
        width: width(),
        height: 240,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        scales: {
          // Half a day of margin each side, so the first and last bars are drawn whole.
          x: { time: true, range: (_u, min, max) => [min - halfDay, max + halfDay] },
          y: { range: (_u, _min, max) => [0, Math.max(max ?? 0, 0.01)] },
        },
        legend: { show: false },
        axes: [
          { stroke: "currentColor", grid: { stroke: "rgba(128,128,128,0.2)" } },
          {
            stroke: "currentColor",
            grid: { stroke: "rgba(128,128,128,0.2)" },
            values: (_u, ticks) => ticks.map((tick) => dollars(tick)),
            size: 70,
          },
        ],
        series: [
          {},
          {
            label: "Spend",
            stroke: "#2563eb",
            fill: "rgba(37,99,235,0.25)",
            paths: uPlot.paths.bars!({ size: [0.7, 40] }),
            value: (_u, value) => (value === null ? "—" : dollars(value)),
            points: { show: false },
          },
        ],
      },
      [xs, costs],
      element,
    );
    const observer = new ResizeObserver(() => chart.setSize({ width: width(), height: 240 }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [points]);
  return <div ref={container} class="chart-canvas" role="img" aria-label="Spend per day" />;
}
