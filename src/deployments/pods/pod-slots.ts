import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../../common/api-error.ts";
import { DomainError } from "../../common/domain-error.ts";
import { deterministicEventId } from "../../common/ids.ts";
import {
  CommandHandler,
  type Decider,
  type StreamState,
} from "../../event-store/command-handler.ts";
import {
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
} from "../../event-store/event-store.port.ts";

/**
 * Pods per account, decided race-free: every deploy claims a slot on the account's
 * `podslots-<accountId>` stream before it holds credit or rents a pod, and the claim is appended
 * with the stream's expected revision. Two deploys (on one instance or several) deciding against
 * the same revision cannot both take the last slot: one append fails and decides again.
 *
 * A claim is bound to its deployment once the pod exists. Claims are freed lazily, when the cap
 * is reached: a claim whose pod is terminated (or gone), or an unbound claim older than
 * CLAIM_ABANDONED_MS (its deploy died midway; an unrecorded pod is terminated by that deploy),
 * is released, and the claim decided again.
 */

export interface PodSlotClaimed {
  accountId: string;
  claimId: string;
  /** Set when the claim adopts a pod deployed before slots existed. */
  deploymentId?: string;
  claimedAt: string;
}

export interface PodSlotBound {
  accountId: string;
  claimId: string;
  deploymentId: string;
}

export interface PodSlotReleased {
  accountId: string;
  claimId: string;
  reason: string;
  releasedAt: string;
}

export type PodSlotEvent =
  | { type: "PodSlotClaimed"; data: PodSlotClaimed }
  | { type: "PodSlotBound"; data: PodSlotBound }
  | { type: "PodSlotReleased"; data: PodSlotReleased };

export interface PodSlotClaim {
  deploymentId?: string;
  claimedAt: string;
}

export interface PodSlotsState {
  exists: boolean;
  /** Open claims by id. */
  claims: Map<string, PodSlotClaim>;
}

export type PodSlotCommand =
  | {
    type: "ClaimSlot";
    accountId: string;
    claimId: string;
    maxPods: number;
    /** Non-terminated pods of the account from before slots existed; adopted on the first claim. */
    existingDeployments: string[];
    at: string;
  }
  | { type: "BindSlot"; accountId: string; claimId: string; deploymentId: string }
  | { type: "ReleaseSlot"; accountId: string; claimId: string; reason: string; at: string };

/** The decider's refusal; `PodSlots.claim` answers it with the 403 `pod_limit_reached`. */
export class PodLimitReached extends DomainError<"pod_limit_reached"> {
  constructor(message: string) {
    super("pod_limit_reached", message);
  }
}

export const podSlotsStream = (accountId: string) => `podslots-${accountId}`;

/** An unbound claim this old belongs to a deploy that died before it recorded a pod. */
export const CLAIM_ABANDONED_MS = 10 * 60_000;

export function initialPodSlotsState(): PodSlotsState {
  return { exists: false, claims: new Map() };
}

export function decidePodSlots(command: PodSlotCommand, state: PodSlotsState): PodSlotEvent[] {
  switch (command.type) {
    case "ClaimSlot": {
      if (state.claims.has(command.claimId)) return [];
      const adopted: PodSlotEvent[] = state.exists ? [] : command.existingDeployments.map((id) => ({
        type: "PodSlotClaimed",
        data: {
          accountId: command.accountId,
          claimId: `existing:${id}`,
          deploymentId: id,
          claimedAt: command.at,
        },
      }));
      if (state.claims.size + adopted.length >= command.maxPods) {
        throw new PodLimitReached(
          `This account already has ${
            state.claims.size + adopted.length
          } pods; the limit is ${command.maxPods}.`,
        );
      }
      return [...adopted, {
        type: "PodSlotClaimed",
        data: { accountId: command.accountId, claimId: command.claimId, claimedAt: command.at },
      }];
    }
    case "BindSlot": {
      const claim = state.claims.get(command.claimId);
      if (!claim || claim.deploymentId === command.deploymentId) return [];
      return [{
        type: "PodSlotBound",
        data: {
          accountId: command.accountId,
          claimId: command.claimId,
          deploymentId: command.deploymentId,
        },
      }];
    }
    case "ReleaseSlot":
      if (!state.claims.has(command.claimId)) return [];
      return [{
        type: "PodSlotReleased",
        data: {
          accountId: command.accountId,
          claimId: command.claimId,
          reason: command.reason,
          releasedAt: command.at,
        },
      }];
  }
}

export function evolvePodSlots(state: PodSlotsState, event: PodSlotEvent): PodSlotsState {
  const claims = new Map(state.claims);
  switch (event.type) {
    case "PodSlotClaimed":
      claims.set(event.data.claimId, {
        ...(event.data.deploymentId !== undefined ? { deploymentId: event.data.deploymentId } : {}),
        claimedAt: event.data.claimedAt,
      });
      break;
    case "PodSlotBound": {
      const claim = claims.get(event.data.claimId);
      if (claim) {
        claims.set(event.data.claimId, { ...claim, deploymentId: event.data.deploymentId });
      }
      break;
    }
    case "PodSlotReleased":
      claims.delete(event.data.claimId);
      break;
  }
  return { exists: true, claims };
}

export const podSlotsDecider: Decider<PodSlotCommand, PodSlotEvent, PodSlotsState> = {
  decide: decidePodSlots,
  evolve: evolvePodSlots,
  initialState: initialPodSlotsState,
};

/** Read → decide → append with the expected revision for `podslots-<accountId>` streams. */
@Injectable()
export class PodSlots {
  private readonly handler: CommandHandler<PodSlotCommand, PodSlotEvent, PodSlotsState>;

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    this.handler = new CommandHandler(store, podSlotsDecider);
  }

  load(accountId: string): Promise<StreamState<PodSlotsState>> {
    return this.handler.load(podSlotsStream(accountId));
  }

  async handle(command: PodSlotCommand, metadata: EventMetadata = {}): Promise<PodSlotsState> {
    const stream = podSlotsStream(command.accountId);
    const result = await this.handler.handle(stream, command, {
      // Ids derive from the claim, so a retried claim, bind or release appends nothing new.
      eventId: (_event, index) =>
        deterministicEventId(stream, `${command.type}:${command.claimId}:${index}`),
      metadata: { accountId: command.accountId, ...metadata },
    });
    return result.newState;
  }

  /**
   * Claims a slot; at the cap, frees the claims `isFree` says are over and decides once more.
   * A 403 `pod_limit_reached` when the account's pods still fill every slot.
   */
  async claim(
    input: { accountId: string; claimId: string; maxPods: number; at: string },
    existingDeployments: () => string[],
    isFree: (claim: PodSlotClaim) => Promise<boolean>,
    metadata: EventMetadata = {},
  ): Promise<void> {
    const command = (existing: string[]): PodSlotCommand => ({
      type: "ClaimSlot",
      ...input,
      existingDeployments: existing,
    });
    const { state } = await this.load(input.accountId);
    const existing = state.exists ? [] : existingDeployments();
    try {
      await this.handle(command(existing), metadata);
      return;
    } catch (error) {
      if (!(error instanceof PodLimitReached)) throw error;
    }
    const { state: full } = await this.load(input.accountId);
    let freed = 0;
    for (const [claimId, claim] of full.claims) {
      if (!(await isFree(claim))) continue;
      await this.handle({
        type: "ReleaseSlot",
        accountId: input.accountId,
        claimId,
        reason: claim.deploymentId ? "pod_terminated" : "abandoned",
        at: input.at,
      }, metadata);
      freed++;
    }
    try {
      if (freed === 0) throw new PodLimitReached(`The limit is ${input.maxPods} pods.`);
      await this.handle(command([]), metadata);
    } catch (error) {
      if (!(error instanceof PodLimitReached)) throw error;
      throw new ApiError(
        403,
        `This account has reached its limit of ${input.maxPods} pods. Delete a deployment first.`,
        { type: "invalid_request_error", code: "pod_limit_reached" },
      );
    }
  }

  bind(accountId: string, claimId: string, deploymentId: string): Promise<PodSlotsState> {
    return this.handle({ type: "BindSlot", accountId, claimId, deploymentId }, {
      actor: "system:lifecycle",
    });
  }

  async release(accountId: string, claimId: string, reason: string, at: string): Promise<void> {
    await this.handle({ type: "ReleaseSlot", accountId, claimId, reason, at }, {
      actor: "system:lifecycle",
    });
  }
}
