import type { EventStore } from "../event-store/event-store.port.ts";
import { evolve, initialLedgerState, type LedgerState } from "./ledger.decider.ts";
import { type LedgerEvent, ledgerStream } from "./ledger.events.ts";

const PAGE = 10_000;

/**
 * An account's ledger state at an instant, replayed from the event store with the decider's
 * own `evolve` up to that instant (by each event's business time `at`). Trusts no read model:
 * the balance API's `?at=` and the audit CLI both answer from it.
 */
export async function replayLedgerUntil(
  store: EventStore,
  accountId: string,
  at: Date,
): Promise<{ state: LedgerState; events: number }> {
  const until = at.toISOString();
  let state = initialLedgerState();
  let applied = 0;
  let from = 0n;
  for (;;) {
    const page = await store.readStream(ledgerStream(accountId), { from, maxCount: PAGE });
    for (const event of page) {
      const ledgerEvent = event as unknown as LedgerEvent;
      if (ledgerEvent.data.at > until) return { state, events: applied };
      state = evolve(state, ledgerEvent);
      applied++;
    }
    if (page.length < PAGE) return { state, events: applied };
    from = page[page.length - 1].revision + 1n;
  }
}
