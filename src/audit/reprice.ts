import { readFileSync } from "node:fs";
import {
  type CatalogueModel,
  REALTIME_PRICE_FIELDS,
  type RealtimePricing,
  realtimePricing,
} from "../catalogue/catalogue.ts";
import { microsToUsd, usdToMicros } from "../common/money.ts";
import type { EventStore } from "../event-store/event-store.port.ts";
import { responseCostMicros } from "../realtime/realtime-usage.ts";

/**
 * What-if pricing: what a period's recorded usage would have cost under another price table.
 * Reads only the event store and writes nothing. The usage is what the work events recorded,
 * with the cost recorded on them: InferenceCompleted (`chargedMicros` > 0: one per-request
 * price each), completed jobs (JobSubmitted's `priceMicros`; failed and cancelled jobs are never
 * charged), realtime responses (their reported token usage) and pod minutes
 * (DeploymentUsageMetered). Refunds and write-offs are the ledger's business, not usage.
 */

/** A price file: MODELS_FILE's shape, of which only the price fields and names are read. */
export interface PriceEntry {
  id: string;
  names: string[];
  perRequestMicros?: number;
  realtime?: RealtimePricing;
}

export interface RepriceRow {
  model: string;
  /** `inference`, a job kind (`image`, `audio`, …), `realtime` or `pod_minute`. */
  usage: string;
  count: number;
  recordedMicros: number;
  repricedMicros: number;
  /** Why a row kept its recorded cost. */
  note?: string;
}

const USAGE_TYPES = [
  "InferenceCompleted",
  "JobSubmitted",
  "JobCompleted",
  "RealtimeSessionStarted",
  "RealtimeResponseCompleted",
  "DeploymentUsageMetered",
];

/** Reads and checks a price file: `{"models":[{"id", "price_usd" | "realtime_pricing", …}]}`. */
export function loadPriceFile(path: string): PriceEntry[] {
  const document = JSON.parse(readFileSync(path, "utf8"));
  if (!Array.isArray(document?.models)) throw new Error(`${path}: expected {"models":[...]}`);
  return document.models.map((model: Record<string, any>, index: number) => {
    const at = `${path}: models[${index}]`;
    if (typeof model?.id !== "string" || model.id === "") throw new Error(`${at}.id is required`);
    const entry: PriceEntry = {
      id: model.id,
      names: [
        model.id,
        ...(Array.isArray(model.aliases) ? model.aliases : []),
        ...(typeof model.served_model_name === "string" ? [model.served_model_name] : []),
      ],
    };
    if (model.price_usd !== undefined) {
      if (typeof model.price_usd !== "number" || model.price_usd < 0) {
        throw new Error(`${at}.price_usd must be a number >= 0`);
      }
      entry.perRequestMicros = usdToMicros(model.price_usd);
    }
    if (model.realtime_pricing !== undefined) {
      for (const [field, value] of Object.entries(model.realtime_pricing ?? {})) {
        if (!(REALTIME_PRICE_FIELDS as readonly string[]).includes(field)) {
          throw new Error(`${at}.realtime_pricing.${field} is not a known price`);
        }
        if (typeof value !== "number" || value < 0) {
          throw new Error(`${at}.realtime_pricing.${field} must be a number >= 0`);
        }
      }
      entry.realtime = realtimePricing(
        { ...model, kind: "realtime" } as CatalogueModel,
      );
    }
    return entry;
  });
}

export async function reprice(
  store: EventStore,
  prices: PriceEntry[],
  from: Date,
  to: Date,
  onProgress?: (position: bigint) => void,
): Promise<RepriceRow[]> {
  const byName = new Map<string, PriceEntry>();
  for (const entry of prices) for (const name of entry.names) byName.set(name, entry);
  const fromText = from.toISOString();
  const toText = to.toISOString();
  const inPeriod = (at: string) => at >= fromText && at < toText;
  const rows = new Map<string, RepriceRow>();
  const row = (model: string, usage: string) => {
    const key = `${usage}\u0000${model}`;
    let found = rows.get(key);
    if (!found) {
      rows.set(key, found = { model, usage, count: 0, recordedMicros: 0, repricedMicros: 0 });
    }
    return found;
  };
  const perRequest = (target: RepriceRow, recorded: number) => {
    const price = byName.get(target.model)?.perRequestMicros;
    target.count++;
    target.recordedMicros += recorded;
    target.repricedMicros += price ?? recorded;
    if (price === undefined) target.note = "no price_usd in the price file: recorded cost kept";
  };
  // Jobs are charged on completion at the price their submission recorded.
  const jobs = new Map<string, { model: string; kind: string; priceMicros: number }>();
  const sessions = new Map<string, string>();
  let after = 0n;
  for (;;) {
    const page = await store.readAll({
      from: after,
      maxCount: 5_000,
      filter: { eventTypes: USAGE_TYPES },
    });
    if (page.length === 0) break;
    for (const event of page) {
      const data = event.data as Record<string, any>;
      switch (event.type) {
        case "InferenceCompleted":
          if (data.chargedMicros > 0 && inPeriod(data.finishedAt)) {
            perRequest(row(data.model, "inference"), data.chargedMicros);
          }
          break;
        case "JobSubmitted":
          jobs.set(data.jobId, {
            model: data.model,
            kind: data.kind,
            priceMicros: data.priceMicros,
          });
          break;
        case "JobCompleted": {
          const job = jobs.get(data.jobId);
          jobs.delete(data.jobId);
          if (job && inPeriod(data.at)) perRequest(row(job.model, job.kind), job.priceMicros);
          break;
        }
        case "RealtimeSessionStarted":
          sessions.set(data.sessionId, data.model);
          break;
        case "RealtimeResponseCompleted": {
          if (!inPeriod(data.completedAt)) break;
          const target = row(sessions.get(data.sessionId) ?? "unknown", "realtime");
          const pricing = byName.get(target.model)?.realtime;
          target.count++;
          target.recordedMicros += data.chargeMicros;
          if (pricing?.kind === "tokens") {
            target.repricedMicros += responseCostMicros(
              pricing,
              data.usage,
              data.transcriptionUsage ?? [],
            );
          } else {
            target.repricedMicros += data.chargeMicros;
            target.note = "no per-token realtime_pricing in the price file: recorded cost kept";
          }
          break;
        }
        case "DeploymentUsageMetered":
          if (inPeriod(data.minute)) {
            const target = row(`deployment:${data.deploymentId}`, "pod_minute");
            target.count++;
            target.recordedMicros += data.amountMicros;
            target.repricedMicros += data.amountMicros;
            target.note = "pod minutes are priced by GPU, not by the price file";
          }
          break;
      }
      after = event.position;
    }
    onProgress?.(after);
  }
  return [...rows.values()].sort((a, b) =>
    a.usage.localeCompare(b.usage) || a.model.localeCompare(b.model)
  );
}

export function repriceJson(rows: RepriceRow[], from: Date, to: Date) {
  const total = (pick: (row: RepriceRow) => number) =>
    rows.reduce((sum, row) => sum + pick(row), 0);
  const recorded = total((row) => row.recordedMicros);
  const repriced = total((row) => row.repricedMicros);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    models: rows.map((row) => ({
      model: row.model,
      usage: row.usage,
      count: row.count,
      recorded_usd: microsToUsd(row.recordedMicros),
      repriced_usd: microsToUsd(row.repricedMicros),
      difference_usd: microsToUsd(row.repricedMicros - row.recordedMicros),
      ...(row.note ? { note: row.note } : {}),
    })),
    total: {
      recorded_usd: microsToUsd(recorded),
      repriced_usd: microsToUsd(repriced),
      difference_usd: microsToUsd(repriced - recorded),
    },
  };
}

/** A plain-text table for a terminal. */
export function repriceTable(rows: RepriceRow[]): string {
  const lines = [["model", "usage", "count", "recorded_usd", "repriced_usd", "difference_usd"]];
  for (const row of rows) {
    lines.push([
      row.model,
      row.usage,
      String(row.count),
      microsToUsd(row.recordedMicros).toFixed(6),
      microsToUsd(row.repricedMicros).toFixed(6),
      microsToUsd(row.repricedMicros - row.recordedMicros).toFixed(6),
    ]);
  }
  const widths = lines[0].map((_, column) => Math.max(...lines.map((line) => line[column].length)));
  return lines.map((line) => line.map((cell, column) => cell.padEnd(widths[column])).join("  "))
    .join("\n");
}
