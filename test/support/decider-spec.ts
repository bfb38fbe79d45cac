import type { Decider, DomainEvent } from "../../src/event-store/command-handler.ts";

/**
 * Given/when/then over any decider, in the manner of Emmett's `DeciderSpecification`:
 *
 *   spec.given([CreditsPurchased]).when(ChargeCredits).then([CreditsCharged])
 *   spec.given([]).when(ChargeCredits).thenRejects("insufficient_credits")
 *
 * `given` folds the events with the decider's own `evolve` from its `initialState()`, so a
 * spec exercises the same path a stream load does.
 */
export function deciderSpec<Command, Event extends DomainEvent, State>(
  decider: Decider<Command, Event, State>,
) {
  return {
    given(events: readonly Event[] = [], initial?: State) {
      const state = events.reduce(
        (state, event) => decider.evolve(state, event),
        initial ?? decider.initialState(),
      );
      return {
        /** The state the given events fold to. */
        state,
        when(command: Command) {
          const decide = () => decider.decide(command, state);
          return {
            /** The decided events; compared with `toEqual`, or returned for finer checks. */
            then(expected?: readonly Event[] | ((events: Event[]) => void)): Event[] {
              const events = decide();
              if (typeof expected === "function") expected(events);
              else if (expected !== undefined) expect(events).toEqual(expected);
              return events;
            },
            /** The state after the decided events are folded in. */
            thenState(): State {
              return decide().reduce((next, event) => decider.evolve(next, event), state);
            },
            /** The command is refused with this code (and, optionally, a message matching). */
            thenRejects(code: string, message?: string | RegExp): void {
              let thrown: unknown;
              try {
                decide();
              } catch (error) {
                thrown = error;
              }
              expect(thrown).toBeDefined();
              expect((thrown as { code?: string }).code).toBe(code);
              if (message !== undefined) expect((thrown as Error).message).toMatch(message);
            },
          };
        },
      };
    },
  };
}
