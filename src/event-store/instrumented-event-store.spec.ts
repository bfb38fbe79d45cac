import { newEventId } from "../common/ids.ts";
import { metrics } from "../common/metrics.ts";
import { WrongExpectedVersion } from "./event-store.port.ts";
import { InstrumentedEventStore } from "./instrumented-event-store.ts";
import { SqliteEventStore } from "./sqlite-event-store.ts";

function appendedTotal(): number {
  return Number(/^eventstore_events_appended_total (\d+)$/m.exec(metrics.render())?.[1] ?? 0);
}

describe("InstrumentedEventStore", () => {
  let store: InstrumentedEventStore;
  beforeEach(() => {
    store = new InstrumentedEventStore(new SqliteEventStore({ path: ":memory:" }));
  });
  afterEach(async () => await store.close());

  it("counts appended events and refused appends", async () => {
    const before = appendedTotal();
    await store.append("thing-1", [
      { id: newEventId(), type: "A", data: {} },
      { id: newEventId(), type: "A", data: {} },
    ]);
    expect(appendedTotal() - before).toBe(2);
    await expect(
      store.append("thing-1", [{ id: newEventId(), type: "A", data: {} }], {
        expectedRevision: "no_stream",
      }),
    ).rejects.toBeInstanceOf(WrongExpectedVersion);
    expect(appendedTotal() - before).toBe(2);
  });

  it("passes the embedded store's per-type tail through, so freshness skips unrelated events", async () => {
    const wanted = await store.append("thing-1", [{ id: newEventId(), type: "Wanted", data: {} }]);
    await store.append("other-1", [{ id: newEventId(), type: "Unrelated", data: {} }]);
    expect(typeof store.lastPositionOf).toBe("function");
    expect(store.lastPositionOf!(["Wanted"])).toBe(wanted.position);
  });
});
