import { randomUUID } from "node:crypto";
import {
  type EventStore,
  type NewEvent,
  type RecordedEvent,
  type Subscription,
  WrongExpectedVersion,
} from "../../src/event-store/event-store.port.ts";
import { scanAll } from "../../src/event-store/scan-all.ts";

export interface EventStoreUnderTest {
  store: EventStore;
  /** Closes `store` and opens the same storage again (durability checks). */
  reopen?: () => Promise<EventStore>;
  cleanup(): Promise<void>;
}

/**
 * The behaviour every EventStore adapter must show. Stream names carry a per-test run id so the
 * suite also runs against a shared EventStoreDB that holds other data.
 */
export function describeEventStoreContract(
  name: string,
  factory: () => Promise<EventStoreUnderTest>,
): void {
  describe(`EventStore contract: ${name}`, () => {
    let subject: EventStoreUnderTest;
    let store: EventStore;
    let run: string;
    const openSubscriptions: Subscription[] = [];

    const stream = (id: string) => `contract${run}-${id}`;
    const prefix = () => `contract${run}-`;

    beforeEach(async () => {
      run = randomUUID().replaceAll("-", "").slice(0, 12);
      subject = await factory();
      store = subject.store;
    });

    afterEach(async () => {
      await Promise.all(openSubscriptions.splice(0).map((subscription) => subscription.close()));
      await subject.cleanup();
    });

    function subscribe(options: Parameters<EventStore["subscribeToAll"]>[0]): Subscription {
      const subscription = store.subscribeToAll(options);
      openSubscriptions.push(subscription);
      return subscription;
    }

    describe("expected revision", () => {
      it("no_stream succeeds on a new stream and the first event gets revision 0", async () => {
        const result = await store.append(stream("a"), [event("Opened")], {
          expectedRevision: "no_stream",
        });
        expect(result.nextExpectedRevision).toBe(0n);
        const [stored] = await store.readStream(stream("a"));
        expect(stored.revision).toBe(0n);
        expect(stored.position).toBe(result.position);
      });

      it("no_stream fails on an existing stream and reports its last revision", async () => {
        await store.append(stream("a"), [event("Opened"), event("Changed")]);
        const failure = await rejectionOf(
          store.append(stream("a"), [event("Opened")], { expectedRevision: "no_stream" }),
        );
        expect(failure).toBeInstanceOf(WrongExpectedVersion);
        expect((failure as WrongExpectedVersion).actual).toBe(1n);
        expect((failure as WrongExpectedVersion).stream).toBe(stream("a"));
      });

      it("stream_exists fails on a missing stream with actual -1n", async () => {
        const failure = await rejectionOf(
          store.append(stream("missing"), [event("Changed")], {
            expectedRevision: "stream_exists",
          }),
        );
        expect(failure).toBeInstanceOf(WrongExpectedVersion);
        expect((failure as WrongExpectedVersion).actual).toBe(-1n);
        expect(await store.readStream(stream("missing"))).toEqual([]);
      });

      it("stream_exists succeeds on an existing stream", async () => {
        await store.append(stream("a"), [event("Opened")]);
        const result = await store.append(stream("a"), [event("Changed")], {
          expectedRevision: "stream_exists",
        });
        expect(result.nextExpectedRevision).toBe(1n);
      });

      it("an exact revision succeeds when it is the last revision", async () => {
        await store.append(stream("a"), [event("Opened"), event("Changed")]);
        const result = await store.append(stream("a"), [event("Changed"), event("Changed")], {
          expectedRevision: 1n,
        });
        expect(result.nextExpectedRevision).toBe(3n);
      });

      it("an exact revision fails when the stream moved on, and nothing is written", async () => {
        await store.append(stream("a"), [event("Opened"), event("Changed"), event("Changed")]);
        const failure = await rejectionOf(
          store.append(stream("a"), [event("Changed")], { expectedRevision: 0n }),
        );
        expect(failure).toBeInstanceOf(WrongExpectedVersion);
        expect((failure as WrongExpectedVersion).actual).toBe(2n);
        expect((failure as WrongExpectedVersion).expected).toBe(0n);
        expect(await store.readStream(stream("a"))).toHaveLength(3);
      });

      it("an exact revision fails on a missing stream with actual -1n", async () => {
        const failure = await rejectionOf(
          store.append(stream("missing"), [event("Changed")], { expectedRevision: 4n }),
        );
        expect(failure).toBeInstanceOf(WrongExpectedVersion);
        expect((failure as WrongExpectedVersion).actual).toBe(-1n);
      });

      it("any succeeds whether or not the stream exists", async () => {
        const first = await store.append(stream("a"), [event("Opened")], {
          expectedRevision: "any",
        });
        const second = await store.append(stream("a"), [event("Changed")]);
        expect(first.nextExpectedRevision).toBe(0n);
        expect(second.nextExpectedRevision).toBe(1n);
      });

      it("lets exactly one of many concurrent appends with the same expected revision win", async () => {
        await store.append(stream("race"), [event("Opened")]);
        const attempts = await Promise.allSettled(
          Array.from(
            { length: 16 },
            (_, index) =>
              store.append(stream("race"), [event("Changed", { index })], {
                expectedRevision: 0n,
              }),
          ),
        );
        const winners = attempts.filter((attempt) => attempt.status === "fulfilled");
        const losers = attempts.filter((attempt) => attempt.status === "rejected");
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(15);
        for (const loser of losers) {
          const reason = (loser as PromiseRejectedResult).reason;
          expect(reason).toBeInstanceOf(WrongExpectedVersion);
          expect((reason as WrongExpectedVersion).actual).toBe(1n);
        }
        expect(await store.readStream(stream("race"))).toHaveLength(2);
      });
    });

    describe("idempotency", () => {
      it("re-appending the same event ids returns the same position and stores nothing new", async () => {
        const events = [event("Opened"), event("Changed")];
        const first = await store.append(stream("a"), events, { expectedRevision: "no_stream" });
        const again = await store.append(stream("a"), events, { expectedRevision: "any" });
        expect(again).toEqual(first);
        const replayWithExpectation = await store.append(stream("a"), events, {
          expectedRevision: "no_stream",
        });
        expect(replayWithExpectation).toEqual(first);
        expect(await store.readStream(stream("a"))).toHaveLength(2);
      });

      it("a retried append after later writes is still a no-op with an exact expected revision", async () => {
        await store.append(stream("a"), [event("Opened")]);
        const retried = [event("Changed")];
        const first = await store.append(stream("a"), retried, { expectedRevision: 0n });
        await store.append(stream("a"), [event("Changed")], { expectedRevision: 1n });
        const again = await store.append(stream("a"), retried, { expectedRevision: 0n });
        expect(again.position).toBe(first.position);
        expect(again.nextExpectedRevision).toBe(1n);
        expect(await store.readStream(stream("a"))).toHaveLength(3);
      });

      it("a partial overlap with an exact expected revision is refused", async () => {
        const stored = event("Opened");
        await store.append(stream("a"), [stored, event("Changed")]);
        const failure = await rejectionOf(
          store.append(stream("a"), [stored, event("Changed")], { expectedRevision: 5n }),
        );
        expect(failure).toBeInstanceOf(WrongExpectedVersion);
        expect(await store.readStream(stream("a"))).toHaveLength(2);
      });
    });

    describe("reading streams", () => {
      it("keeps per-stream order with 0-based revisions, data, metadata and createdAt", async () => {
        const before = Date.now();
        await store.append(stream("a"), [
          event("Opened", { n: 0 }, { correlationId: "c-1", actor: "admin" }),
          event("Changed", { n: 1 }),
        ]);
        await store.append(stream("a"), [event("Changed", { n: 2 })]);
        const events = await store.readStream(stream("a"));
        expect(events.map((stored) => stored.revision)).toEqual([0n, 1n, 2n]);
        expect(events.map((stored) => stored.data)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
        expect(events.map((stored) => stored.type)).toEqual(["Opened", "Changed", "Changed"]);
        expect(events[0].metadata).toMatchObject({ correlationId: "c-1", actor: "admin" });
        expect(events[0].stream).toBe(stream("a"));
        expect(events[0].createdAt).toBeInstanceOf(Date);
        // Allow for a server clock a few seconds off.
        expect(Math.abs(events[0].createdAt.getTime() - before)).toBeLessThan(60_000);
        expect(typeof events[0].position).toBe("bigint");
      });

      it("reads from a revision, backwards, and with maxCount", async () => {
        await store.append(
          stream("a"),
          Array.from({ length: 6 }, (_, n) => event("Changed", { n })),
        );
        const revisions = (events: RecordedEvent[]) => events.map((stored) => stored.revision);
        expect(revisions(await store.readStream(stream("a"), { from: 3n }))).toEqual([3n, 4n, 5n]);
        expect(revisions(await store.readStream(stream("a"), { maxCount: 2 }))).toEqual([0n, 1n]);
        expect(revisions(await store.readStream(stream("a"), { direction: "backwards" })))
          .toEqual([5n, 4n, 3n, 2n, 1n, 0n]);
        expect(
          revisions(
            await store.readStream(stream("a"), { direction: "backwards", from: 3n, maxCount: 2 }),
          ),
        ).toEqual([3n, 2n]);
      });

      it("reads a missing stream as empty", async () => {
        expect(await store.readStream(stream("nothing"))).toEqual([]);
      });
    });

    describe("$all", () => {
      it("gives strictly increasing global positions across streams", async () => {
        const start = await store.headPosition();
        const results = [];
        for (const id of ["x", "y", "x", "z", "y"]) {
          results.push(await store.append(stream(id), [event("Changed"), event("Changed")]));
        }
        const all = await store.readAll({ from: start, filter: { streamPrefixes: [prefix()] } });
        expect(all).toHaveLength(10);
        for (let index = 1; index < all.length; index++) {
          expect(all[index].position > all[index - 1].position).toBe(true);
        }
        expect(all[0].position > start).toBe(true);
        // The append result names the position of the last event it wrote.
        expect(results.map((result) => result.position)).toEqual(
          all.filter((_, index) => index % 2 === 1).map((stored) => stored.position),
        );
        expect(await store.headPosition()).toBeGreaterThanOrEqual(all[9].position);
      });

      it("readAll treats from as exclusive and honours maxCount", async () => {
        const start = await store.headPosition();
        await store.append(stream("a"), [event("A1"), event("A2"), event("A3"), event("A4")]);
        const all = await store.readAll({ from: start, filter: { streamPrefixes: [prefix()] } });
        const afterSecond = await store.readAll({
          from: all[1].position,
          filter: { streamPrefixes: [prefix()] },
        });
        expect(afterSecond.map((stored) => stored.type)).toEqual(["A3", "A4"]);
        const firstTwo = await store.readAll({
          from: start,
          maxCount: 2,
          filter: { streamPrefixes: [prefix()] },
        });
        expect(firstTwo.map((stored) => stored.type)).toEqual(["A1", "A2"]);
      });

      it("readAll filters by stream prefix and by event type", async () => {
        const start = await store.headPosition();
        await store.append(stream("a"), [event("Opened"), event("Changed")]);
        await store.append(`other${run}-b`, [event("Opened")]);
        await store.append(stream("c"), [event("Closed")]);
        const byPrefix = await store.readAll({
          from: start,
          filter: { streamPrefixes: [prefix()] },
        });
        expect(byPrefix.map((stored) => stored.stream)).toEqual([
          stream("a"),
          stream("a"),
          stream("c"),
        ]);
        const byPrefixAndType = await store.readAll({
          from: start,
          filter: { streamPrefixes: [prefix(), `other${run}-`], eventTypes: ["Opened", "Closed"] },
        });
        expect(byPrefixAndType.map((stored) => `${stored.stream}:${stored.type}`)).toEqual([
          `${stream("a")}:Opened`,
          `other${run}-b:Opened`,
          `${stream("c")}:Closed`,
        ]);
      });
    });

    describe("scanAll", () => {
      /** What a reader sees of an event, whatever object the adapter hands out. */
      const seen = (stored: RecordedEvent) => ({
        id: stored.id,
        type: stored.type,
        stream: stored.stream,
        revision: stored.revision,
        position: stored.position,
        data: stored.data,
        metadata: stored.metadata,
        createdAt: stored.createdAt.getTime(),
      });

      async function pagesOf(
        source: EventStore,
        options: Parameters<typeof scanAll>[1],
      ): Promise<RecordedEvent[][]> {
        const pages: RecordedEvent[][] = [];
        for await (const page of scanAll(source, options)) pages.push(page);
        return pages;
      }

      it("pages through what readAll returns, from exclusive, to inclusive, filtered", async () => {
        const start = await store.headPosition();
        await store.append(stream("a"), [event("Opened", { n: 1 }), event("Changed", { n: 2 })]);
        await store.append(`other${run}-b`, [event("Opened", { n: 3 })]);
        await store.append(stream("c"), [event("Changed", { n: 4 }), event("Closed", { n: 5 })]);
        await store.append(stream("a"), [event("Changed", { n: 6 })]);
        const filter = { streamPrefixes: [prefix()], eventTypes: ["Opened", "Changed"] };
        const expected = await store.readAll({ from: start, filter });
        expect(expected.map((stored) => stored.data.n)).toEqual([1, 2, 4, 6]);
        // The adapter's own scan (through the decorators) and the readAll fallback agree.
        const readAllOnly = { readAll: (options) => store.readAll(options) } as EventStore;
        for (const source of [store, readAllOnly]) {
          const pages = await pagesOf(source, { from: start, filter, pageSize: 3 });
          expect(pages.map((page) => page.length)).toEqual([3, 1]);
          expect(pages.flat().map(seen)).toEqual(expected.map(seen));
          const bounded = await pagesOf(source, {
            from: expected[0].position,
            to: expected[2].position,
            filter,
            pageSize: 1,
          });
          expect(bounded.flat().map((stored) => stored.data.n)).toEqual([2, 4]);
        }
      });

      it("gives the same events when the caller reads metadata rarely", async () => {
        const start = await store.headPosition();
        await store.append(stream("a"), [
          event("Opened", { n: 1 }, { correlationId: "c-7", actor: "admin" }),
          event("Changed", { n: 2 }, { causationId: "evt_stripe_1" }),
        ]);
        await store.append(stream("b"), [event("Opened", { n: 3 })]);
        const filter = { streamPrefixes: [prefix()] };
        const expected = await store.readAll({ from: start, filter });
        const pages = await pagesOf(store, {
          from: start,
          filter,
          pageSize: 2,
          metadataRarelyRead: true,
        });
        // Metadata, revision and createdAt are read after the whole scan, as verify reads a
        // purchase's causation id long after its page.
        expect(pages.flat().map(seen)).toEqual(expected.map(seen));
        expect(pages.flat()[1].metadata).toMatchObject({ causationId: "evt_stripe_1" });
      });
    });

    describe("subscribeToAll", () => {
      it("catches up after an exclusive checkpoint, then delivers live appends", async () => {
        await store.append(stream("a"), [event("Before")]);
        const checkpoint = (await store.append(stream("a"), [event("AtCheckpoint")])).position;
        await store.append(stream("a"), [event("After1")]);
        const subscription = subscribe({
          from: checkpoint,
          filter: { streamPrefixes: [prefix()] },
        });
        const received = collect(subscription, 3);
        // Give the subscription time to go live before the next appends.
        await delay(100);
        await store.append(stream("b"), [event("Live1")]);
        await store.append(stream("a"), [event("Live2")]);
        const events = await withTimeout(received, 5000, "subscription delivery");
        expect(events.map((stored) => stored.type)).toEqual(["After1", "Live1", "Live2"]);
        expect(events[0].position > checkpoint).toBe(true);
      });

      it("delivers only what the filter selects, in position order", async () => {
        const start = await store.headPosition();
        const subscription = subscribe({
          from: start,
          filter: { streamPrefixes: [prefix()], eventTypes: ["Wanted"] },
        });
        const received = collect(subscription, 3);
        await store.append(stream("a"), [event("Wanted", { n: 1 }), event("Unwanted")]);
        await store.append(`other${run}-a`, [event("Wanted", { n: 99 })]);
        await store.append(stream("b"), [event("Unwanted"), event("Wanted", { n: 2 })]);
        await store.append(stream("a"), [event("Wanted", { n: 3 })]);
        const events = await withTimeout(received, 5000, "filtered subscription delivery");
        expect(events.map((stored) => stored.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      });

      it("ends iteration when closed", async () => {
        const subscription = subscribe({ from: await store.headPosition() });
        const consumed = (async () => {
          let count = 0;
          for await (const _ of subscription) count++;
          return count;
        })();
        await delay(50);
        await subscription.close();
        expect(await withTimeout(consumed, 3000, "iteration to end")).toBeGreaterThanOrEqual(0);
      });

      it("ends iteration when its abort signal fires, after delivering what came before", async () => {
        const controller = new AbortController();
        const from = await store.headPosition();
        const subscription = store.subscribeToAll({ from, signal: controller.signal });
        const consumed = (async () => {
          const seen: unknown[] = [];
          for await (const stored of subscription) {
            seen.push(stored.data);
            if (seen.length === 1) controller.abort();
          }
          return seen;
        })();
        await store.append(stream("abort"), [event("Aborting", { n: 1 })]);
        expect(await withTimeout(consumed, 3000, "iteration to end on abort")).toEqual([{ n: 1 }]);
      });
    });

    it("keeps acknowledged events across close and reopen", async () => {
      if (!subject.reopen) {
        console.warn(`${name}: durability across reopen not checked: the adapter has no reopen`);
        return;
      }
      const written = await store.append(stream("durable"), [event("Opened"), event("Changed")]);
      store = await subject.reopen();
      const events = await store.readStream(stream("durable"));
      expect(events.map((stored) => stored.type)).toEqual(["Opened", "Changed"]);
      expect(events[1].position).toBe(written.position);
      const next = await store.append(stream("durable"), [event("Changed")], {
        expectedRevision: 1n,
      });
      expect(next.nextExpectedRevision).toBe(2n);
      expect(next.position > written.position).toBe(true);
    });
  });
}

export function event(
  type: string,
  data: unknown = {},
  metadata?: NewEvent["metadata"],
): NewEvent {
  return { id: randomUUID(), type, data, metadata };
}

export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject, but it resolved");
}

export async function collect(
  subscription: AsyncIterable<RecordedEvent>,
  count: number,
): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  if (count === 0) return events;
  for await (const recorded of subscription) {
    events.push(recorded);
    if (events.length >= count) break;
  }
  return events;
}

export function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

export async function withTimeout<T>(
  promise: Promise<T>,
  milliseconds: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${milliseconds} ms waiting for ${what}`)),
      milliseconds,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
