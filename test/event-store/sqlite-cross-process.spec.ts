import { spawn } from "node:child_process";
import { type EventEmitter, once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteEventStore } from "../../src/event-store/sqlite-event-store.ts";
import { delay, withTimeout } from "./event-store.contract.ts";

const COUNTS = {
  ownWriters: 16,
  appendsPerOwnWriter: 100,
  counterLoops: 4,
  winsPerCounterLoop: 15,
  idempotentEvents: 150,
};

interface ProcessReport {
  acknowledged: { id: string; position: bigint }[];
  wonRevisions: bigint[];
  conflicts: number;
  idempotentPositions: bigint[];
}

function startWriter(path: string, label: string, writer: "thread" | "inline") {
  const script = new URL("./support/contending-writer.ts", import.meta.url).pathname;
  const child = spawn(
    process.execPath,
    ["run", "-A", script, path, label, writer, JSON.stringify(COUNTS)],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let output = "";
  let errors = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => output += chunk);
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => errors += chunk);
  const exited = once(child as unknown as EventEmitter, "exit");
  return {
    ready: withTimeout(
      (async () => {
        while (!output.startsWith("ready\n")) await delay(10);
      })(),
      20_000,
      `writer ${label} to start`,
    ),
    go: () => child.stdin.end("go\n"),
    report: async (): Promise<ProcessReport> => {
      const [code] = await withTimeout(exited, 60_000, `writer ${label} to finish`);
      if (code !== 0 || !output.endsWith("done\n")) {
        throw new Error(`writer ${label} exited with ${code}: ${errors.slice(-500)}`);
      }
      const report: ProcessReport = {
        acknowledged: [],
        wonRevisions: [],
        conflicts: 0,
        idempotentPositions: [],
      };
      for (const line of output.split("\n")) {
        const [kind, first, second] = line.split(" ");
        if (kind === "ack") report.acknowledged.push({ id: first, position: BigInt(second) });
        if (kind === "won") report.wonRevisions.push(BigInt(first));
        if (kind === "conflicts") report.conflicts = Number(first);
        if (kind === "idem") report.idempotentPositions[Number(first)] = BigInt(second);
      }
      return report;
    },
  };
}

describe("SqliteEventStore shared by two processes appending at once", () => {
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), "modelpilot-cross-process-"));
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it(
    "stores every acknowledged append once, refuses stale revisions, keeps ids idempotent",
    async () => {
      // Both open a file that does not exist yet, as processes started together on a fresh DATA_DIR.
      const path = join(directory, "events.sqlite");
      const writers = [startWriter(path, "a", "thread"), startWriter(path, "b", "inline")];
      await Promise.all(writers.map((writer) => writer.ready));
      for (const writer of writers) writer.go();
      const [first, second] = await Promise.all(writers.map((writer) => writer.report()));

      const store = new SqliteEventStore({ path });
      const all = await store.readAll();
      await store.close();

      // The two really appended at the same time: each wrote both before and after the other.
      const positionsOf = (report: ProcessReport) => report.acknowledged.map((ack) => ack.position);
      const [firstPositions, secondPositions] = [positionsOf(first), positionsOf(second)];
      expect(min(firstPositions)).toBeLessThan(max(secondPositions));
      expect(min(secondPositions)).toBeLessThan(max(firstPositions));

      // Every acknowledged append is stored, once, at the position it was acknowledged with.
      const byId = new Map(all.map((recorded) => [recorded.id, recorded]));
      expect(byId.size).toBe(all.length);
      const acknowledged = [...first.acknowledged, ...second.acknowledged];
      expect(acknowledged).toHaveLength(2 * COUNTS.ownWriters * COUNTS.appendsPerOwnWriter);
      expect(acknowledged.filter((ack) => byId.get(ack.id)?.position !== ack.position)).toEqual([]);
      // Positions are gap-free; so is each stream's run of revisions.
      expect(all.map((recorded) => recorded.position)).toEqual(
        all.map((_, index) => BigInt(index + 1)),
      );
      const revisionsByStream = new Map<string, bigint[]>();
      for (const recorded of all) {
        revisionsByStream.set(recorded.stream, [
          ...(revisionsByStream.get(recorded.stream) ?? []),
          recorded.revision,
        ]);
      }
      for (const revisions of revisionsByStream.values()) {
        expect(revisions).toEqual(revisions.map((_, index) => BigInt(index)));
      }

      // No two appends at the same expected revision both succeeded, in one process or across two:
      // every win has its own revision and the stream holds exactly the wins.
      const wins = [...first.wonRevisions, ...second.wonRevisions].sort((left, right) =>
        left < right ? -1 : left > right ? 1 : 0
      );
      const totalWins = 2 * COUNTS.counterLoops * COUNTS.winsPerCounterLoop;
      expect(wins).toEqual(Array.from({ length: totalWins }, (_, index) => BigInt(index)));
      expect(revisionsByStream.get("counter-shared")).toHaveLength(totalWins);
      expect(first.conflicts + second.conflicts).toBeGreaterThan(0);
      console.log(
        `cross-process: ${all.length} events, conflicts ${first.conflicts}/${second.conflicts}, a ${
          min(firstPositions)
        }..${max(firstPositions)}, b ${min(secondPositions)}..${max(secondPositions)}`,
      );

      // The same ids appended by both processes are stored once each, in order, and both
      // processes were told the same position for each.
      const shared = all.filter((recorded) => recorded.stream === "idempotent-shared");
      expect(shared.map((recorded) => recorded.id)).toEqual(
        Array.from(
          { length: COUNTS.idempotentEvents },
          (_, index) => `00000000-0000-4000-8000-${index.toString(16).padStart(12, "0")}`,
        ),
      );
      expect(first.idempotentPositions).toEqual(shared.map((recorded) => recorded.position));
      expect(second.idempotentPositions).toEqual(shared.map((recorded) => recorded.position));
    },
    90_000,
  );
});

const min = (values: bigint[]) => values.reduce((left, right) => left < right ? left : right);
const max = (values: bigint[]) => values.reduce((left, right) => left > right ? left : right);
