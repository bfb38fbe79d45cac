import { randomUUID } from "node:crypto";
import { EventStoreUnavailable } from "../../src/event-store/event-store.port.ts";
import { EsdbEventStore } from "../../src/event-store/esdb-event-store.ts";
import { describeEventStoreContract, rejectionOf, withTimeout } from "./event-store.contract.ts";

const connectionString = process.env.EVENTSTORE_CONNECTION_STRING;

if (connectionString) {
  describeEventStoreContract(`EventStoreDB (${connectionString})`, async () => {
    const store = new EsdbEventStore({ connectionString });
    // Every contract test uses fresh, uniquely named streams: nothing to delete afterwards.
    return { store, cleanup: () => store.close() };
  });
} else {
  console.warn("EventStoreDB contract run skipped: EVENTSTORE_CONNECTION_STRING is not set");
  describe.skip("EventStore contract: EventStoreDB (skipped: EVENTSTORE_CONNECTION_STRING is not set)", () => {
    it.skip("runs the shared contract suite against a live EventStoreDB", () => {});
  });
}

describe("EsdbEventStore without a server", () => {
  it("reports EventStoreUnavailable when nothing answers", async () => {
    // Port 1 on loopback: connection refused straight away.
    const store = new EsdbEventStore({
      connectionString: "esdb://127.0.0.1:1?tls=false&defaultDeadline=2000",
    });
    try {
      const failure = await withTimeout(rejectionOf(store.ping()), 10_000, "ping to fail");
      expect(failure).toBeInstanceOf(EventStoreUnavailable);
      expect(String(failure)).toMatch(/unavailable/i);
      const appendFailure = await withTimeout(
        rejectionOf(store.append("s-1", [{ id: randomUUID(), type: "Opened", data: {} }])),
        10_000,
        "append to fail",
      );
      expect(appendFailure).toBeInstanceOf(EventStoreUnavailable);
    } finally {
      await store.close();
    }
  });
});
