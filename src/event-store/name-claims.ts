import { createHash } from "node:crypto";
import { CommandHandler, type Decider } from "./command-handler.ts";
import type { EventMetadata, EventStore } from "./event-store.port.ts";
import { DomainError, isDomainError } from "../common/domain-error.ts";

/**
 * Names unique per account (deployments, model groups), decided race-free: a holder claims its
 * name on `<category>-<sha256(account, name)>` with the stream's expected revision before it is
 * created, so two creations of one name cannot both win. The claim is released when the holder
 * ends or its creation fails. A release that was lost is taken back by the next claim once the
 * feature says the holder is stale (it ended, or was never created).
 *
 * Each feature keeps its own event types and the field that names the holder (`deploymentId`,
 * `groupId`), as stored since those claims first existed; only the rules are shared.
 */

/** Who claims which name: `accountId`, `name` and the feature's holder field. */
export type NameClaimKey<HolderField extends string> =
  & { accountId: string; name: string }
  & { [Field in HolderField]: string };

export type NameClaimCommand<HolderField extends string> =
  | ({ type: "ClaimName"; at: string } & NameClaimKey<HolderField>)
  | ({ type: "ReleaseName"; reason: string; at: string } & NameClaimKey<HolderField>);

export type NameClaimEvent<
  HolderField extends string,
  Claimed extends string,
  Released extends string,
> =
  | { type: Claimed; data: NameClaimKey<HolderField> & { claimedAt: string } }
  | {
    type: Released;
    data: NameClaimKey<HolderField> & { reason: string; releasedAt: string };
  };

export interface NameClaimState {
  /** The holder of the name, and since when. */
  holder?: { holderId: string; claimedAt: string };
}

export interface NameClaimKind<
  HolderField extends string,
  Claimed extends string,
  Released extends string,
> {
  /** The stored event types. */
  claimed: Claimed;
  released: Released;
  /** The field of the events' data that names the holder. */
  holderField: HolderField;
  /** The refusal of a taken name, with the code the HTTP edge maps. */
  taken(name: string): DomainError;
}

/** The claim stream of one account's name; the category has no `-` inside (ESDB categories). */
export function nameClaimStream(category: string, accountId: string, name: string): string {
  return `${category}-${createHash("sha256").update(`${accountId}\u0000${name}`).digest("hex")}`;
}

/** The pure rules: a free name is claimed, a held one refused, only its holder releases it. */
export function nameClaimDecider<
  HolderField extends string,
  Claimed extends string,
  Released extends string,
>(
  kind: NameClaimKind<HolderField, Claimed, Released>,
): Decider<
  NameClaimCommand<HolderField>,
  NameClaimEvent<HolderField, Claimed, Released>,
  NameClaimState
> {
  type Event = NameClaimEvent<HolderField, Claimed, Released>;
  const holderOf = (key: NameClaimKey<HolderField>) =>
    (key as Record<HolderField, string>)[kind.holderField];
  return {
    decide(command, state) {
      const { accountId, name } = command;
      const holderId = holderOf(command);
      // Data in the stored field order: accountId, name, the holder, then the rest.
      const key = { accountId, name, [kind.holderField]: holderId } as NameClaimKey<HolderField>;
      switch (command.type) {
        case "ClaimName":
          if (state.holder?.holderId === holderId) return [];
          if (state.holder) throw kind.taken(name);
          return [{ type: kind.claimed, data: { ...key, claimedAt: command.at } } as Event];
        case "ReleaseName":
          if (state.holder?.holderId !== holderId) return [];
          return [{
            type: kind.released,
            data: { ...key, reason: command.reason, releasedAt: command.at },
          } as Event];
      }
    },
    evolve(_state, event) {
      if (event.type !== kind.claimed) return {};
      const data = event.data as NameClaimKey<HolderField> & { claimedAt: string };
      return { holder: { holderId: holderOf(data), claimedAt: data.claimedAt } };
    },
    initialState: () => ({}),
  };
}

/** Claims and releases one feature's names through the shared CommandHandler. */
export class NameClaims<
  HolderField extends string,
  Claimed extends string,
  Released extends string,
> {
  private readonly names: CommandHandler<
    NameClaimCommand<HolderField>,
    NameClaimEvent<HolderField, Claimed, Released>,
    NameClaimState
  >;
  private readonly takenCode: string;

  constructor(
    store: EventStore,
    private readonly kind: NameClaimKind<HolderField, Claimed, Released> & {
      /** `nameClaimStream` with the feature's category. */
      stream(accountId: string, name: string): string;
      /** Whether the holder ended, or was never created in time: its claim may be taken back. */
      isStale(holder: { holderId: string; claimedAt: string }, at: string): Promise<boolean>;
    },
  ) {
    this.names = new CommandHandler(store, nameClaimDecider(kind));
    this.takenCode = kind.taken("").code;
  }

  /**
   * Claims the name for the key's holder; the feature's `taken` refusal while a live holder has
   * it. A stale claim is released and the name claimed in the same append.
   */
  async claim(
    key: NameClaimKey<HolderField>,
    at: string,
    metadata: EventMetadata = {},
  ): Promise<void> {
    const stream = this.kind.stream(key.accountId, key.name);
    const options = { metadata: { ...metadata, accountId: key.accountId } };
    const claim: NameClaimCommand<HolderField> = { type: "ClaimName", ...key, at };
    try {
      await this.names.handle(stream, claim, options);
      return;
    } catch (error) {
      if (!isDomainError(error, this.takenCode)) throw error;
    }
    const holder = (await this.names.load(stream)).state.holder;
    if (holder && !(await this.kind.isStale(holder, at))) throw this.kind.taken(key.name);
    // Released meanwhile, or stale: decided again, so a holder that changed still refuses.
    const release: NameClaimCommand<HolderField>[] = holder
      ? [{
        type: "ReleaseName",
        ...key,
        [this.kind.holderField]: holder.holderId,
        reason: "stale",
        at,
      }]
      : [];
    await this.names.handle(stream, [...release, claim], options);
  }

  async release(
    key: NameClaimKey<HolderField>,
    reason: string,
    at: string,
    metadata: EventMetadata = {},
  ): Promise<void> {
    await this.names.handle(
      this.kind.stream(key.accountId, key.name),
      { type: "ReleaseName", ...key, reason, at },
      { metadata: { ...metadata, accountId: key.accountId } },
    );
  }
}
