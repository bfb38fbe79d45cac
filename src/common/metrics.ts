/**
 * A small Prometheus registry (text exposition format 0.0.4). One process-wide instance,
 * `metrics`, like the logger: the HTTP hooks, the event store and the projection runner feed it.
 */
type Labels = Record<string, string>;

const DEFAULT_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines;
  }
}

class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets = DEFAULT_BUCKETS) {}
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) entry.counts[i]++;
    entry.sum += value;
    entry.count++;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, entry] of this.series) {
      const inner = key.slice(1, -1);
      const prefix = inner ? `${inner},` : "";
      this.buckets.forEach((bound, i) =>
        lines.push(`${this.name}_bucket{${prefix}le="${bound}"} ${entry.counts[i]}`)
      );
      lines.push(`${this.name}_bucket{${prefix}le="+Inf"} ${entry.count}`);
      lines.push(`${this.name}_sum${key} ${entry.sum}`);
      lines.push(`${this.name}_count${key} ${entry.count}`);
    }
    return lines;
  }
}

class Gauge {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines;
  }
}

const NEEDS_ESCAPE = /["\\]/;

/** `{name="value",…}` in the labels' order; built on every observation, so no arrays. */
function labelKey(labels: Labels): string {
  let key = "";
  for (const name in labels) {
    let value = labels[name];
    if (NEEDS_ESCAPE.test(value)) value = value.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
    key += `${key === "" ? "{" : ","}${name}="${value}"`;
  }
  return key === "" ? "" : `${key}}`;
}

export class Metrics {
  readonly httpRequestDuration = new Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method, route and status",
  );
  readonly eventsAppended = new Counter(
    "eventstore_events_appended_total",
    "Events appended to the event store",
  );
  readonly appendFailures = new Counter(
    "eventstore_append_conflicts_total",
    "Appends refused by expected revision",
  );
  readonly projectionLag = new Gauge(
    "projection_lag_events",
    "Events between the store head and a projection's checkpoint",
  );
  readonly projectionCheckpoint = new Gauge(
    "projection_checkpoint_position",
    "Last position a projection applied",
  );
  readonly counters = new Map<string, Counter>();

  /** A named counter for feature modules (e.g. inference requests), created on first use. */
  counter(name: string, help: string): Counter {
    let counter = this.counters.get(name);
    if (!counter) {
      counter = new Counter(name, help);
      this.counters.set(name, counter);
    }
    return counter;
  }

  render(): string {
    return [
      ...this.httpRequestDuration.render(),
      ...this.eventsAppended.render(),
      ...this.appendFailures.render(),
      ...this.projectionLag.render(),
      ...this.projectionCheckpoint.render(),
      ...[...this.counters.values()].flatMap((counter) => counter.render()),
    ].join("\n") + "\n";
  }
}

export const metrics = new Metrics();
