import {
  decidePodSlots,
  evolvePodSlots,
  initialPodSlotsState,
  PodLimitReached,
  type PodSlotCommand,
  type PodSlotEvent,
} from "./pod-slots.ts";

const T0 = "2026-01-01T00:00:00.000Z";

/** given(events).when(command) → then(events) */
function given(events: PodSlotEvent[]) {
  const state = events.reduce(evolvePodSlots, initialPodSlotsState());
  return { when: (command: PodSlotCommand) => decidePodSlots(command, state) };
}

const claim = (
  claimId: string,
  maxPods = 2,
  existingDeployments: string[] = [],
): PodSlotCommand => ({
  type: "ClaimSlot",
  accountId: "acct_1",
  claimId,
  maxPods,
  existingDeployments,
  at: T0,
});
const claimed = (claimId: string, deploymentId?: string): PodSlotEvent => ({
  type: "PodSlotClaimed",
  data: {
    accountId: "acct_1",
    claimId,
    ...(deploymentId ? { deploymentId } : {}),
    claimedAt: T0,
  },
});

describe("pod slots decider", () => {
  it("claims a slot under the cap", () => {
    expect(given([]).when(claim("c1"))).toEqual([claimed("c1")]);
    expect(given([claimed("c1")]).when(claim("c2"))).toEqual([claimed("c2")]);
  });

  it("refuses a claim when every slot is taken", () => {
    expect(() => given([claimed("c1"), claimed("c2")]).when(claim("c3"))).toThrow(
      PodLimitReached,
    );
  });

  it("decides a repeated claim (same id) as nothing", () => {
    expect(given([claimed("c1"), claimed("c2")]).when(claim("c1"))).toEqual([]);
  });

  it("frees a slot with a release", () => {
    const released: PodSlotEvent = {
      type: "PodSlotReleased",
      data: { accountId: "acct_1", claimId: "c1", reason: "pod_terminated", releasedAt: T0 },
    };
    expect(given([claimed("c1"), claimed("c2"), released]).when(claim("c3"))).toEqual([
      claimed("c3"),
    ]);
  });

  it("adopts the account's earlier pods on its first claim, and counts them", () => {
    expect(given([]).when(claim("c1", 3, ["podA"]))).toEqual([
      claimed("existing:podA", "podA"),
      claimed("c1"),
    ]);
    expect(() => given([]).when(claim("c1", 2, ["podA", "podB"]))).toThrow(PodLimitReached);
    // Once the stream exists, the read model's list is not adopted again.
    expect(given([claimed("c1")]).when(claim("c2", 2, ["podA"]))).toEqual([claimed("c2")]);
  });

  it("binds a claim to its pod once", () => {
    const bind: PodSlotCommand = {
      type: "BindSlot",
      accountId: "acct_1",
      claimId: "c1",
      deploymentId: "pod1",
    };
    const bound = given([claimed("c1")]).when(bind);
    expect(bound).toEqual([{
      type: "PodSlotBound",
      data: { accountId: "acct_1", claimId: "c1", deploymentId: "pod1" },
    }]);
    expect(given([claimed("c1"), ...bound]).when(bind)).toEqual([]);
  });
});
