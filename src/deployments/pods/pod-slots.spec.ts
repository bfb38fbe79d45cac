import { deciderSpec } from "../../../test/support/decider-spec.ts";
import { type PodSlotCommand, type PodSlotEvent, podSlotsDecider } from "./pod-slots.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const spec = deciderSpec(podSlotsDecider);

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
    spec.given([]).when(claim("c1")).then([claimed("c1")]);
    spec.given([claimed("c1")]).when(claim("c2")).then([claimed("c2")]);
  });

  it("refuses a claim when every slot is taken", () => {
    spec.given([claimed("c1"), claimed("c2")]).when(claim("c3")).thenRejects(
      "pod_limit_reached",
      "This account already has 2 pods; the limit is 2.",
    );
  });

  it("decides a repeated claim (same id) as nothing", () => {
    spec.given([claimed("c1"), claimed("c2")]).when(claim("c1")).then([]);
  });

  it("frees a slot with a release", () => {
    const released: PodSlotEvent = {
      type: "PodSlotReleased",
      data: { accountId: "acct_1", claimId: "c1", reason: "pod_terminated", releasedAt: T0 },
    };
    spec.given([claimed("c1"), claimed("c2"), released]).when(claim("c3")).then([claimed("c3")]);
  });

  it("adopts the account's earlier pods on its first claim, and counts them", () => {
    spec.given([]).when(claim("c1", 3, ["podA"])).then([
      claimed("existing:podA", "podA"),
      claimed("c1"),
    ]);
    spec.given([]).when(claim("c1", 2, ["podA", "podB"])).thenRejects("pod_limit_reached");
    // Once the stream exists, the read model's list is not adopted again.
    spec.given([claimed("c1")]).when(claim("c2", 2, ["podA"])).then([claimed("c2")]);
  });

  it("binds a claim to its pod once", () => {
    const bind: PodSlotCommand = {
      type: "BindSlot",
      accountId: "acct_1",
      claimId: "c1",
      deploymentId: "pod1",
    };
    const bound = spec.given([claimed("c1")]).when(bind).then([{
      type: "PodSlotBound",
      data: { accountId: "acct_1", claimId: "c1", deploymentId: "pod1" },
    }]);
    spec.given([claimed("c1"), ...bound]).when(bind).then([]);
  });
});
