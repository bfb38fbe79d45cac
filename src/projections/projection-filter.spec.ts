import { matchesFilter } from "../event-store/event-filter.ts";
import type { EventFilter, RecordedEvent } from "../event-store/event-store.port.ts";
import { compileFilter } from "./projection-filter.ts";

describe("compileFilter", () => {
  const events = [
    { stream: "ledger-a", type: "CreditsCharged" },
    { stream: "ledger-a", type: "CreditsGranted" },
    { stream: "job-1", type: "CreditsCharged" },
    { stream: "job-1", type: "JobSubmitted" },
    { stream: "inference-2", type: "InferenceCompleted" },
  ] as RecordedEvent[];
  const filters: (EventFilter | undefined)[] = [
    undefined,
    {},
    { streamPrefixes: [], eventTypes: [] },
    { eventTypes: ["CreditsCharged", "JobSubmitted"] },
    { streamPrefixes: ["ledger-", "inference-"] },
    { streamPrefixes: ["job-"], eventTypes: ["CreditsCharged"] },
  ];

  it.each(filters.map((filter) => [JSON.stringify(filter) ?? "no filter", filter]))(
    "selects what matchesFilter selects: %s",
    (_name, filter) => {
      const matches = compileFilter(filter as EventFilter | undefined);
      expect(events.map(matches)).toEqual(
        events.map((event) => matchesFilter(event, filter as EventFilter | undefined)),
      );
    },
  );
});
