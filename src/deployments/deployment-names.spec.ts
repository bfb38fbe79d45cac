import { deciderSpec } from "../../test/support/decider-spec.ts";
import {
  type DeploymentNameCommand,
  deploymentNameDecider,
  type DeploymentNameEvent,
  deploymentNameStream,
} from "./deployment-names.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const spec = deciderSpec(deploymentNameDecider);
const key = (deploymentId: string) => ({ accountId: "acct_1", name: "mistral", deploymentId });
const claim = (deploymentId: string): DeploymentNameCommand => ({
  type: "ClaimName",
  ...key(deploymentId),
  at: T0,
});
const release = (deploymentId: string): DeploymentNameCommand => ({
  type: "ReleaseName",
  ...key(deploymentId),
  reason: "terminated",
  at: T0,
});
const claimed = (deploymentId: string): DeploymentNameEvent => ({
  type: "DeploymentNameClaimed",
  data: { ...key(deploymentId), claimedAt: T0 },
});
const released = (deploymentId: string): DeploymentNameEvent => ({
  type: "DeploymentNameReleased",
  data: { ...key(deploymentId), reason: "terminated", releasedAt: T0 },
});

describe("deployment name claims", () => {
  it("claims a free name, and decides a repeated claim by the same deployment as nothing", () => {
    spec.given([]).when(claim("pod1")).then([claimed("pod1")]);
    spec.given([claimed("pod1")]).when(claim("pod1")).then([]);
  });

  it("refuses a name another deployment holds, as the HTTP layer always has", () => {
    spec.given([claimed("pod1")]).when(claim("pod2")).thenRejects(
      "deployment_exists",
      "A deployment named 'mistral' already exists.",
    );
  });

  it("frees the name when its holder releases it, and ignores anyone else's release", () => {
    spec.given([claimed("pod1")]).when(release("pod2")).then([]);
    spec.given([claimed("pod1")]).when(release("pod1")).then([released("pod1")]);
    spec.given([claimed("pod1"), released("pod1")]).when(claim("pod2")).then([claimed("pod2")]);
    spec.given([claimed("pod1"), released("pod1")]).when(release("pod1")).then([]);
  });

  it("keeps one stream per account and name, in a category without a dash", () => {
    const stream = deploymentNameStream("acct_1", "mistral");
    expect(stream).toMatch(/^deploymentname-[0-9a-f]{64}$/);
    expect(deploymentNameStream("acct_1", "mistral")).toBe(stream);
    expect(deploymentNameStream("acct_2", "mistral")).not.toBe(stream);
    expect(deploymentNameStream("acct_1", "mistral:7b")).not.toBe(stream);
  });
});
