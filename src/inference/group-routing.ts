import type { ModelGroupStrategy } from "../model-groups/model-group.events.ts";

/** Longest cooldown a member's Retry-After may ask for. */
const MAX_COOLDOWN_MS = 10 * 60_000;
/** Per-group strategy state kept; past it the oldest is dropped (a bound, not a correctness rule). */
const MAX_GROUP_STATES = 10_000;

/** One member a request may go to, in strategy order; `key` identifies it within its account. */
export interface GroupCandidate<Member> {
  key: string;
  /** Position in the group (fallback order, weights). */
  index: number;
  weight: number;
  /** Stopped by idle and wakeable: tried only after every awake member. */
  asleep: boolean;
  member: Member;
}

/**
 * This instance's routing state for model groups: which members are cooling down (after a 429,
 * a 5xx or a refused connection), how many group requests each member has in flight, and each
 * group's round-robin and weighted position. Nothing here is shared across instances: each
 * instance balances its own traffic, which is what the strategies promise.
 */
export class GroupRouting {
  private readonly coolUntil = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private readonly turns = new Map<string, number>();
  private readonly currentWeights = new Map<string, number[]>();

  constructor(readonly defaultCooldownMs: number) {}

  coolingDown(key: string, nowMs: number): boolean {
    const until = this.coolUntil.get(key);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.coolUntil.delete(key);
    return false;
  }

  /** Soonest a cooling member is usable again, in whole seconds (for Retry-After). */
  retryAfterSeconds(keys: readonly string[], nowMs: number): number {
    let soonest = Infinity;
    for (const key of keys) {
      const until = this.coolUntil.get(key);
      if (until !== undefined && until > nowMs) soonest = Math.min(soonest, until - nowMs);
    }
    return Number.isFinite(soonest) ? Math.max(1, Math.ceil(soonest / 1000)) : 1;
  }

  /** A 429's Retry-After (seconds or an HTTP date) sets the cooldown; otherwise the default. */
  coolDown(key: string, nowMs: number, retryAfter?: string): void {
    const asked = retryAfterMs(retryAfter, nowMs);
    const ms = Math.min(MAX_COOLDOWN_MS, asked ?? this.defaultCooldownMs);
    if (ms <= 0) return;
    this.coolUntil.set(key, Math.max(this.coolUntil.get(key) ?? 0, nowMs + ms));
  }

  begin(key: string): void {
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
  }

  end(key: string): void {
    const count = (this.inFlight.get(key) ?? 1) - 1;
    if (count <= 0) this.inFlight.delete(key);
    else this.inFlight.set(key, count);
  }

  busy(key: string): number {
    return this.inFlight.get(key) ?? 0;
  }

  /**
   * The order to try `candidates` in: by the strategy among awake members, then the sleeping
   * ones in the same order (a group does not wake a GPU while another member can serve).
   * `groupSize` keys the weighted state so a changed member list starts afresh.
   */
  order<Member>(
    groupId: string,
    strategy: ModelGroupStrategy,
    candidates: GroupCandidate<Member>[],
    groupSize: number,
  ): GroupCandidate<Member>[] {
    let ordered: GroupCandidate<Member>[];
    switch (strategy) {
      case "fallback":
        ordered = candidates;
        break;
      case "round_robin": {
        const turn = this.nextTurn(groupId);
        const start = turn % Math.max(1, candidates.length);
        ordered = [...candidates.slice(start), ...candidates.slice(0, start)];
        break;
      }
      case "weighted":
        ordered = this.weighted(groupId, candidates, groupSize);
        break;
      case "least_busy":
        // Stable: equally busy members keep the group's order.
        ordered = [...candidates].sort((a, b) => this.busy(a.key) - this.busy(b.key));
        break;
    }
    if (!ordered.some((candidate) => candidate.asleep)) return ordered;
    return [
      ...ordered.filter((candidate) => !candidate.asleep),
      ...ordered.filter((candidate) => candidate.asleep),
    ];
  }

  private nextTurn(groupId: string): number {
    const turn = this.turns.get(groupId) ?? 0;
    this.bound(this.turns);
    this.turns.set(groupId, turn + 1);
    return turn;
  }

  /**
   * Smooth weighted round-robin (nginx's): over any run of sum(weights) requests each member is
   * first exactly its weight's times, interleaved rather than in bursts. The rest follow by
   * weight. Members that are skipped this time do not take part.
   */
  private weighted<Member>(
    groupId: string,
    candidates: GroupCandidate<Member>[],
    groupSize: number,
  ): GroupCandidate<Member>[] {
    let current = this.currentWeights.get(groupId);
    if (!current || current.length !== groupSize) {
      current = new Array(groupSize).fill(0);
      this.bound(this.currentWeights);
      this.currentWeights.set(groupId, current);
    }
    if (candidates.length === 0) return candidates;
    let total = 0;
    let best = candidates[0];
    for (const candidate of candidates) {
      current[candidate.index] += candidate.weight;
      total += candidate.weight;
      if (current[candidate.index] > current[best.index]) best = candidate;
    }
    current[best.index] -= total;
    const rest = candidates.filter((candidate) => candidate !== best)
      .sort((a, b) => b.weight - a.weight);
    return [best, ...rest];
  }

  private bound(map: Map<string, unknown>): void {
    if (map.size >= MAX_GROUP_STATES) map.delete(map.keys().next().value!);
  }
}

function retryAfterMs(header: string | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
