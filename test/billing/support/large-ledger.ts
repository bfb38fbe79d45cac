import { ledgerEventId } from "../../../src/billing/ledger.decider.ts";
import { type LedgerEvent, ledgerStream } from "../../../src/billing/ledger.events.ts";
import type { EventStore, NewEvent } from "../../../src/event-store/event-store.port.ts";

export const LARGE_LEDGER_START = Date.parse("2025-01-01T00:00:00.000Z");

/**
 * Appends a valid ledger of `events` events to one account's stream straight into the event
 * store, in large appends (no HTTP, no decider per event): a grant, then repeating
 * reserve → release → charge → charge, one second of business time apart. The balance after
 * event `i` is known in closed form (see `expectedBalanceAfter`), so readers can be checked.
 */
export async function appendLargeLedger(
  store: EventStore,
  accountId: string,
  events: number,
  chunk = 5_000,
): Promise<{ first: Date; last: Date }> {
  const stream = ledgerStream(accountId);
  let written = 0;
  while (written < events) {
    const batch: NewEvent[] = [];
    for (; batch.length < chunk && written < events; written++) {
      const event = ledgerEventAt(accountId, written, events);
      batch.push({
        id: event.id,
        type: event.type,
        data: event.data,
        metadata: { accountId, actor: "system:bench" },
      });
    }
    await store.append(stream, batch, { expectedRevision: "any" });
  }
  return { first: instant(0), last: instant(events - 1) };
}

/** Business time of event `index`. */
export function instant(index: number): Date {
  return new Date(LARGE_LEDGER_START + index * 1_000);
}

/** The balance and holds right after event `index` (two 1-micro charges per round of 4). */
export function expectedAfter(
  index: number,
  events: number,
): { balanceMicros: number; heldMicros: number } {
  if (index === 0) return { balanceMicros: grantFor(events), heldMicros: 0 };
  const inRound = (index - 1) % 4;
  const charges = Math.floor((index - 1) / 4) * 2 + Math.max(0, inRound - 1);
  return { balanceMicros: grantFor(events) - charges, heldMicros: inRound === 0 ? 5 : 0 };
}

function grantFor(events: number): number {
  return events * 10;
}

function ledgerEventAt(accountId: string, index: number, events: number): LedgerEvent {
  const at = instant(index).toISOString();
  if (index === 0) {
    return {
      id: ledgerEventId(accountId, "grant:seed"),
      type: "CreditsGranted",
      data: {
        accountId,
        grantId: "seed",
        amountMicros: grantFor(events),
        reason: "seed",
        actor: "bench",
        at,
      },
    };
  }
  const round = Math.floor((index - 1) / 4);
  switch ((index - 1) % 4) {
    case 0:
      return {
        id: ledgerEventId(accountId, `reserve:h${round}`),
        type: "CreditsReserved",
        data: {
          accountId,
          reservationId: `h${round}`,
          amountMicros: 5,
          reference: "bench",
          expiresAt: instant(index + 900).toISOString(),
          at,
        },
      };
    case 1:
      return {
        id: ledgerEventId(accountId, `release:h${round}`),
        type: "ReservationReleased",
        data: { accountId, reservationId: `h${round}`, amountMicros: 5, reason: "bench", at },
      };
    default: {
      const chargeId = `c${round}-${(index - 1) % 4}`;
      return {
        id: ledgerEventId(accountId, `charge:${chargeId}`),
        type: "CreditsCharged",
        data: { accountId, chargeId, amountMicros: 1, reference: "bench", at },
      };
    }
  }
}
