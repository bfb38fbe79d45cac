import { deciderSpec } from "../../test/support/decider-spec.ts";
import {
  type ModelGroupCommand,
  modelGroupDecider,
  type ModelGroupEvent,
  modelGroupNameDecider,
  type ModelGroupNameEvent,
} from "./model-group.decider.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const members = [{ model: "mistral", kind: "deployment" as const, deploymentId: "pod1" }];
const create: ModelGroupCommand = {
  type: "CreateModelGroup",
  groupId: "grp_1",
  accountId: "acct_1",
  name: "chat",
  strategy: "fallback",
  members,
  at: T0,
};
const created: ModelGroupEvent = {
  type: "ModelGroupCreated",
  data: {
    groupId: "grp_1",
    accountId: "acct_1",
    name: "chat",
    strategy: "fallback",
    members,
    createdAt: T0,
  },
};
const remove = (accountId = "acct_1"): ModelGroupCommand => ({
  type: "DeleteModelGroup",
  groupId: "grp_1",
  accountId,
  at: T0,
});

describe("model group decider", () => {
  const spec = deciderSpec(modelGroupDecider);

  it("creates a group once: the same creation decided again appends nothing", () => {
    spec.given([]).when(create).then([created]);
    spec.given([created]).when(create).then([]);
  });

  it("deletes a live group of the account, naming it, and refuses anything else", () => {
    spec.given([created]).when(remove()).then([{
      type: "ModelGroupDeleted",
      data: { groupId: "grp_1", accountId: "acct_1", name: "chat", deletedAt: T0 },
    }]);
    spec.given([]).when(remove()).thenRejects("model_group_not_found");
    spec.given([created]).when(remove("acct_2")).thenRejects("model_group_not_found");
    const deleted = spec.given([created]).when(remove()).then();
    spec.given([created, ...deleted]).when(remove()).thenRejects("model_group_not_found");
  });
});

describe("model group name claims", () => {
  const spec = deciderSpec(modelGroupNameDecider);
  const key = (groupId: string) => ({ accountId: "acct_1", name: "chat", groupId });
  const claimed = (groupId: string): ModelGroupNameEvent => ({
    type: "ModelGroupNameClaimed",
    data: { ...key(groupId), claimedAt: T0 },
  });

  it("claims a free name once and refuses it to another group until released", () => {
    spec.given([]).when({ type: "ClaimName", ...key("grp_1"), at: T0 }).then([
      claimed("grp_1"),
    ]);
    spec.given([claimed("grp_1")]).when({ type: "ClaimName", ...key("grp_1"), at: T0 })
      .then([]);
    spec.given([claimed("grp_1")]).when({ type: "ClaimName", ...key("grp_2"), at: T0 })
      .thenRejects("model_group_exists");
    const released = spec.given([claimed("grp_1")]).when({
      type: "ReleaseName",
      ...key("grp_1"),
      reason: "deleted",
      at: T0,
    }).then();
    spec.given([claimed("grp_1"), ...released])
      .when({ type: "ClaimName", ...key("grp_2"), at: T0 }).then([claimed("grp_2")]);
  });
});
