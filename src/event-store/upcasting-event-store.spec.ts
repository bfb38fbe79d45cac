import { newEventId } from "../common/ids.ts";
import { type EventSchema, EventSchemas } from "./event-schemas.ts";
import type { RecordedEvent, Subscription } from "./event-store.port.ts";
import { findEventTypeTail } from "./event-type-tail.ts";
import { InstrumentedEventStore } from "./instrumented-event-store.ts";
import { SqliteEventStore } from "./sqlite-event-store.ts";
import { UpcastingEventStore } from "./upcasting-event-store.ts";

/**
 * A test type whose shape changed twice:
 *   v1 { celsius }  →  v2 { temperature: { celsius } }  →  v3 { temperature: { celsius, fahrenheit } }
 */
const MEASURED: EventSchema = {
  type: "Measured",
  version: 3,
  upcasters: [
    { from: 1, upcast: (data) => ({ temperature: { celsius: data.celsius } }) },
    {
      from: 2,
      upcast: (data) => ({
        temperature: { ...data.temperature, fahrenheit: data.temperature.celsius * 9 / 5 + 32 },
      }),
    },
  ],
};

const V3_OF_20_CELSIUS = { temperature: { celsius: 20, fahrenheit: 68 } };
const V3_OF_100_CELSIUS = { temperature: { celsius: 100, fahrenheit: 212 } };

describe("UpcastingEventStore", () => {
  let raw: SqliteEventStore;
  let store: UpcastingEventStore;
  const subscriptions: Subscription[] = [];

  beforeEach(async () => {
    raw = new SqliteEventStore({ path: ":memory:", pollIntervalMs: 10 });
    store = new UpcastingEventStore(raw, new EventSchemas([MEASURED]));
    // History as older releases wrote it, straight into the adapter: v1 without a version, v2 with.
    await raw.append("sensor-1", [
      { id: newEventId(), type: "Measured", data: { celsius: 20 }, metadata: { actor: "old" } },
      {
        id: newEventId(),
        type: "Measured",
        data: { temperature: { celsius: 100 } },
        metadata: { schemaVersion: 2 },
      },
    ]);
  });

  afterEach(async () => {
    await Promise.all(subscriptions.splice(0).map((subscription) => subscription.close()));
    await store.close();
  });

  const dataOf = (events: RecordedEvent[]) => events.map((event) => event.data);

  it("reads stored v1 and v2 events as v3 through readStream", async () => {
    const events = await store.readStream("sensor-1");
    expect(dataOf(events)).toEqual([V3_OF_20_CELSIUS, V3_OF_100_CELSIUS]);
    expect(events.map((event) => event.metadata.schemaVersion)).toEqual([3, 3]);
    // The rest of the metadata is the stored one.
    expect(events[0].metadata.actor).toBe("old");
  });

  it("reads stored v1 and v2 events as v3 through readAll", async () => {
    const events = await store.readAll({ filter: { eventTypes: ["Measured"] } });
    expect(dataOf(events)).toEqual([V3_OF_20_CELSIUS, V3_OF_100_CELSIUS]);
  });

  it("delivers stored v1 and v2 events as v3 through a subscription, catch-up and live", async () => {
    const subscription = store.subscribeToAll();
    subscriptions.push(subscription);
    const iterator = subscription[Symbol.asyncIterator]();
    const caughtUp = [(await iterator.next()).value, (await iterator.next()).value];
    expect(dataOf(caughtUp)).toEqual([V3_OF_20_CELSIUS, V3_OF_100_CELSIUS]);
    await raw.append("sensor-2", [{ id: newEventId(), type: "Measured", data: { celsius: 20 } }]);
    expect((await iterator.next()).value.data).toEqual(V3_OF_20_CELSIUS);
  });

  it("stores schemaVersion 3 with a v3 append and reads it back untouched", async () => {
    await store.append("sensor-3", [
      { id: newEventId(), type: "Measured", data: V3_OF_20_CELSIUS, metadata: { actor: "new" } },
    ]);
    const [stored] = await raw.readStream("sensor-3");
    expect(stored.metadata).toEqual({ actor: "new", schemaVersion: 3 });
    expect(stored.data).toEqual(V3_OF_20_CELSIUS);
    const [read] = await store.readStream("sensor-3");
    expect(read.data).toEqual(V3_OF_20_CELSIUS);
  });

  it("writes events of a type still at version 1 exactly as given", async () => {
    await store.append("other-1", [
      { id: newEventId(), type: "Unversioned", data: { a: 1 }, metadata: { actor: "x" } },
      { id: newEventId(), type: "Unversioned", data: { b: 2 } },
    ]);
    const stored = await raw.readStream("other-1");
    expect(stored.map((event) => event.metadata)).toEqual([{ actor: "x" }, {}]);
    expect(await store.readStream("other-1")).toEqual(stored);
  });

  it("keeps the embedded store's per-type tail reachable through the decorators", async () => {
    const wrapped = new InstrumentedEventStore(store);
    const appended = await wrapped.append("sensor-4", [
      { id: newEventId(), type: "Measured", data: V3_OF_20_CELSIUS },
    ]);
    await wrapped.append("other-2", [{ id: newEventId(), type: "Unrelated", data: {} }]);
    expect(findEventTypeTail(wrapped)?.lastPositionOf(["Measured"])).toBe(appended.position);
    expect(wrapped.lastPositionOf?.(["Measured"])).toBe(appended.position);
  });
});

describe("EventSchemas", () => {
  it("refuses a type whose upcasters do not cover every step up to its version", () => {
    expect(() => new EventSchemas([{ ...MEASURED, upcasters: [MEASURED.upcasters[1]] }]))
      .toThrow(/Measured at version 3 needs upcasters from 1, 2 in order, has \[2\]/);
    expect(() => new EventSchemas([MEASURED, MEASURED])).toThrow(/registered twice/);
  });

  it("leaves events written by a newer release as they are", () => {
    const schemas = new EventSchemas([MEASURED]);
    const newer = {
      id: "e",
      type: "Measured",
      data: { future: true },
      metadata: { schemaVersion: 4 },
      stream: "sensor-9",
      revision: 0n,
      position: 1n,
      createdAt: new Date(0),
    };
    expect(schemas.upcast(newer)).toBe(newer);
  });
});
