import { deciderSpec } from "../../test/support/decider-spec.ts";
import {
  type DeploymentCommand,
  deploymentDecider,
  type DeploymentEvent,
  dueMinutes,
  fold,
  holdCovers,
  minutePriceMicros,
} from "./deployment.decider.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

const requested: DeploymentEvent = {
  type: "DeploymentRequested",
  data: {
    deploymentId: "pod1",
    accountId: "acct_1",
    provider: "runpod",
    name: "mistral",
    modelIdentifier: "mistral",
    gpuTypeId: "NVIDIA GeForce RTX 4090",
    requestedAt: T0,
  },
};
/** A PodCreated as written before issue 11 (no `billedFrom`): billed from PodStarted. */
const created: DeploymentEvent = {
  type: "PodCreated",
  data: {
    deploymentId: "pod1",
    podId: "pod1",
    gpuTypeId: "NVIDIA GeForce RTX 4090",
    costPerHourUsd: 0.69,
    createdAt: T0,
  },
};
const HOLD = { reservationId: "pod:claim1", amountMicros: 2 * 11_500, minutes: 2 };
/** Today's PodCreated: billed from here, with a two-minute prepaid hold. */
const createdNow = (seconds = 0): DeploymentEvent => ({
  type: "PodCreated",
  data: {
    deploymentId: "pod1",
    podId: "pod1",
    gpuTypeId: "NVIDIA GeForce RTX 4090",
    costPerHourUsd: 0.69,
    createdAt: at(seconds),
    billedFrom: "created",
    prepaidHold: HOLD,
    quotedCostPerHourUsd: 0.69,
    slotClaimId: "claim1",
  },
});
const started = (seconds: number): DeploymentEvent => ({
  type: "PodStarted",
  data: {
    deploymentId: "pod1",
    baseUrl: "https://pod1-11434.proxy.runpod.net/v1",
    startedAt: at(seconds),
  },
});
const stopped = (seconds: number, reason: "user" | "external" = "user"): DeploymentEvent => ({
  type: "PodStopped",
  data: { deploymentId: "pod1", reason, stoppedAt: at(seconds) },
});
const metered = (minute: number): DeploymentEvent => ({
  type: "DeploymentUsageMetered",
  data: {
    deploymentId: "pod1",
    accountId: "acct_1",
    minute: at(minute * 60),
    amountMicros: 11_500,
  },
});

const spec = deciderSpec(deploymentDecider);

describe("deployment decider", () => {
  it("records a rented pod as requested and created, billed from creation, with its hold", () => {
    spec.given([]).when({
      type: "RequestPodDeployment",
      deploymentId: "pod1",
      accountId: "acct_1",
      name: "mistral",
      modelIdentifier: "mistral",
      gpuTypeId: "NVIDIA GeForce RTX 4090",
      costPerHourUsd: 0.69,
      at: T0,
      prepaidHold: HOLD,
      quotedCostPerHourUsd: 0.69,
      slotClaimId: "claim1",
    }).then([requested, createdNow(0)]);
  });

  it.each([0, -1, Number.NaN, undefined])(
    "refuses to record a pod RunPod priced at %p: a pod is never free by accident",
    (cost) => {
      spec.given([]).when({
        type: "RequestPodDeployment",
        deploymentId: "pod1",
        accountId: "acct_1",
        name: "mistral",
        modelIdentifier: "mistral",
        gpuTypeId: "x",
        costPerHourUsd: cost as number,
        at: T0,
      }).thenRejects("invalid_deployment_state", /no usable price/);
    },
  );

  it("refuses to create the same deployment twice", () => {
    spec.given([requested, created]).when({
      type: "RequestPodDeployment",
      deploymentId: "pod1",
      accountId: "acct_1",
      name: "mistral",
      modelIdentifier: "mistral",
      gpuTypeId: "x",
      costPerHourUsd: 1,
      at: T0,
    }).thenRejects("deployment_exists", "Deployment pod1 already exists.");
  });

  it("registers an external upstream as requested and serving at once, its key only sealed", () => {
    const register = (apiKeyCiphertext?: string): DeploymentCommand => ({
      type: "RegisterExternalUpstream",
      deploymentId: "ext_1",
      accountId: "acct_1",
      name: "my-vllm",
      modelIdentifier: "Qwen/Qwen3-8B",
      baseUrl: "https://vllm.example.com/v1",
      ...(apiKeyCiphertext ? { apiKeyCiphertext } : {}),
      at: T0,
    });
    const registered = (apiKeyCiphertext?: string): DeploymentEvent => ({
      type: "DeploymentRequested",
      data: {
        deploymentId: "ext_1",
        accountId: "acct_1",
        provider: "external",
        name: "my-vllm",
        modelIdentifier: "Qwen/Qwen3-8B",
        baseUrl: "https://vllm.example.com/v1",
        ...(apiKeyCiphertext ? { apiKeyCiphertext } : {}),
        requestedAt: T0,
      },
    });
    spec.given([]).when(register("v1.sealed")).then([registered("v1.sealed")]);
    spec.given([]).when(register()).then([registered()]);
    expect(spec.given([]).when(register()).thenState().status).toBe("running");
    spec.given([registered()]).when(register()).thenRejects(
      "deployment_exists",
      "Deployment ext_1 already exists.",
    );
  });

  describe("external upstreams: delete and key replacement", () => {
    const registered: DeploymentEvent = {
      type: "DeploymentRequested",
      data: {
        deploymentId: "ext_1",
        accountId: "acct_1",
        provider: "external",
        name: "my-vllm",
        modelIdentifier: "Qwen/Qwen3-8B",
        baseUrl: "https://vllm.example.com/v1",
        apiKeyCiphertext: "v1.old",
        requestedAt: T0,
      },
    };
    const removed: DeploymentEvent = {
      type: "ExternalUpstreamRemoved",
      data: { deploymentId: "ext_1", removedAt: at(60) },
    };

    it("removes an upstream once, leaving it terminated; removing again decides nothing", () => {
      spec.given([registered]).when({ type: "RemoveExternalUpstream", at: at(60) })
        .then([removed]);
      expect(
        spec.given([registered]).when({ type: "RemoveExternalUpstream", at: at(60) })
          .thenState().status,
      ).toBe("terminated");
      spec.given([registered, removed]).when({ type: "RemoveExternalUpstream", at: at(90) })
        .then([]);
    });

    it("replaces the sealed key of a live upstream, and refuses it once removed", () => {
      spec.given([registered])
        .when({ type: "ReplaceExternalUpstreamKey", apiKeyCiphertext: "v1.new", at: at(30) })
        .then([{
          type: "ExternalUpstreamKeyReplaced",
          data: { deploymentId: "ext_1", apiKeyCiphertext: "v1.new", replacedAt: at(30) },
        }]);
      spec.given([registered, removed])
        .when({ type: "ReplaceExternalUpstreamKey", apiKeyCiphertext: "v1.new", at: at(90) })
        .thenRejects("invalid_deployment_state");
    });

    it("refuses both on a pod, which is terminated through RunPod instead", () => {
      spec.given([requested, created]).when({ type: "RemoveExternalUpstream", at: at(60) })
        .thenRejects("invalid_deployment_state", /only external upstreams/);
      spec.given([requested, created])
        .when({ type: "ReplaceExternalUpstreamKey", apiKeyCiphertext: "v1.x", at: at(60) })
        .thenRejects("invalid_deployment_state");
    });
  });

  it("refuses any other command on a deployment that does not exist", () => {
    spec.given([]).when({ type: "TerminatePod", at: T0 })
      .thenRejects("deployment_not_found", "No such deployment.");
  });

  it("moves to pulling when Ollama answers, and to running with PodStarted", () => {
    const healthy: DeploymentEvent = {
      type: "DeploymentHealthChanged",
      data: {
        deploymentId: "pod1",
        healthy: true,
        services: { ollama: "running" },
        responseTimeMs: 3,
        checkedAt: T0,
      },
    };
    expect(fold([requested, created, healthy]).status).toBe("pulling");
    expect(fold([requested, created, healthy, started(0)]).status).toBe("running");
  });

  it("records an unchanged health check as nothing", () => {
    const healthy: DeploymentEvent = {
      type: "DeploymentHealthChanged",
      data: {
        deploymentId: "pod1",
        healthy: true,
        services: { ollama: "running" },
        responseTimeMs: 3,
        checkedAt: T0,
      },
    };
    spec.given([requested, created, healthy]).when({
      type: "RecordHealth",
      healthy: true,
      services: { ollama: "running" },
      responseTimeMs: 9,
      at: at(5),
    }).then([]);
  });

  it("stops an active pod once; a second stop (another reconciler) decides nothing", () => {
    const stop: DeploymentCommand = { type: "StopPod", reason: "external", at: at(30) };
    spec.given([requested, created, started(0)]).when(stop).then([stopped(30, "external")]);
    spec.given([requested, created, started(0), stopped(30, "external")]).when(stop).then([]);
  });

  it("refuses to start a terminated deployment", () => {
    const terminated: DeploymentEvent = {
      type: "PodTerminated",
      data: { deploymentId: "pod1", terminatedAt: at(1) },
    };
    spec.given([requested, created, terminated]).when({
      type: "MarkPodStarted",
      baseUrl: "x",
      at: at(2),
    }).thenRejects("invalid_deployment_state", "Cannot start: the deployment is terminated.");
  });

  it("fails a running pod with a stop (reason failed) then the failure", () => {
    spec.given([requested, created, started(0)]).when({
      type: "FailDeployment",
      reason: "boom",
      podStopped: true,
      at: at(10),
    }).then((events) => {
      expect(events.map((e) => e.type)).toEqual(["PodStopped", "DeploymentFailed"]);
      expect(events[0].data).toMatchObject({ reason: "failed", detail: "boom" });
    });
  });

  it("records a failure whose pod was terminated as leaving no pod behind", () => {
    const failed = spec.given([requested, createdNow()]).when({
      type: "FailDeployment",
      reason: "pull failed",
      podStopped: false,
      podTerminated: true,
      at: at(90),
    });
    failed.then([{
      type: "DeploymentFailed",
      data: { deploymentId: "pod1", reason: "pull failed", failedAt: at(90), podTerminated: true },
    }]);
    expect(failed.thenState().podGone).toBe(true);
    // Older failures (pod stopped "for inspection") leave the pod in place.
    const older: DeploymentEvent = {
      type: "DeploymentFailed",
      data: { deploymentId: "pod1", reason: "pull failed", failedAt: at(90) },
    };
    expect(fold([requested, created, older]).podGone).toBe(false);
  });

  describe("billing from creation (issue 11), old streams unchanged", () => {
    it("bills provisioning and the pull: minutes are due from PodCreated", () => {
      const state = fold([requested, createdNow(0)]);
      expect(state.status).toBe("provisioning");
      expect(dueMinutes(state, new Date(at(125)))).toEqual([at(0), at(60), at(120)]);
      // PodStarted later does not restart the interval.
      expect(dueMinutes(fold([requested, createdNow(0), started(100)]), new Date(at(125))))
        .toEqual([at(0), at(60), at(120)]);
    });

    it("still bills an old stream (PodCreated without billedFrom) from PodStarted", () => {
      expect(dueMinutes(fold([requested, created]), new Date(at(125)))).toEqual([]);
      expect(dueMinutes(fold([requested, created, started(70)]), new Date(at(125))))
        .toEqual([at(60), at(120)]);
    });

    it("bills a restart from PodResumed, at the price RunPod reports after the start", () => {
      const resumed = spec.given([requested, createdNow(0), stopped(30)]).when({
        type: "ResumePod",
        costPerHourUsd: 0.74,
        at: at(200),
      });
      // The prepaid window ends with the stop's minutes; the restart is charged minute by minute.
      resumed.then([
        {
          type: "PodHoldClosed",
          data: {
            deploymentId: "pod1",
            reservationId: HOLD.reservationId,
            amountMicros: 0,
            minutes: 0,
            closedAt: at(200),
          },
        },
        {
          type: "PodResumed",
          data: { deploymentId: "pod1", costPerHourUsd: 0.74, resumedAt: at(200) },
        },
      ]);
      const state = resumed.thenState();
      expect(state.status).toBe("provisioning");
      expect(state.costPerHourUsd).toBe(0.74);
      expect(dueMinutes(state, new Date(at(250)))).toEqual([at(0), at(180), at(240)]);
    });

    it("refuses a restart RunPod reports no price for", () => {
      spec.given([requested, createdNow(0), stopped(30)]).when({
        type: "ResumePod",
        costPerHourUsd: 0,
        at: at(200),
      }).thenRejects("invalid_deployment_state", /no usable price/);
    });
  });

  describe("prepaid hold", () => {
    const prepaid = (minute: number): DeploymentEvent => ({
      type: "DeploymentUsageMetered",
      data: {
        deploymentId: "pod1",
        accountId: "acct_1",
        minute: at(minute * 60),
        amountMicros: 11_500,
        prepaid: true,
      },
    });

    it("meters minutes against the hold while it has room", () => {
      expect(holdCovers(fold([requested, createdNow()]), 11_500)).toBe(true);
      spec.given([requested, createdNow()]).when({
        type: "MeterMinute",
        minute: at(0),
        amountMicros: 11_500,
        prepaid: true,
      }).then([prepaid(0)]);
    });

    it("refuses a prepaid minute past the hold's minutes or amount", () => {
      const full = [requested, createdNow(), prepaid(0), prepaid(1)];
      expect(holdCovers(fold(full), 11_500)).toBe(false);
      spec.given(full).when({
        type: "MeterMinute",
        minute: at(120),
        amountMicros: 11_500,
        prepaid: true,
      }).thenRejects("invalid_deployment_state", /prepaid hold cannot cover/);
      // A pricier minute than the hold was priced at does not fit either.
      expect(holdCovers(fold([requested, createdNow(), prepaid(0)]), 11_501)).toBe(false);
    });

    it("closes the hold at exactly the prepaid minutes' sum, once, then records the settlement", () => {
      const used = [requested, createdNow(), prepaid(0), prepaid(1)];
      const closed = spec.given(used).when({ type: "CloseHold", at: at(130) }).then([{
        type: "PodHoldClosed",
        data: {
          deploymentId: "pod1",
          reservationId: HOLD.reservationId,
          amountMicros: 23_000,
          minutes: 2,
          closedAt: at(130),
        },
      }]);
      spec.given([...used, ...closed]).when({ type: "CloseHold", at: at(140) }).then([]);
      const settled = spec.given([...used, ...closed]).when({
        type: "MarkHoldSettled",
        at: at(131),
      })
        .then([{
          type: "PodHoldSettled",
          data: {
            deploymentId: "pod1",
            reservationId: HOLD.reservationId,
            amountMicros: 23_000,
            settledAt: at(131),
          },
        }]);
      spec.given([...used, ...closed, ...settled]).when({ type: "MarkHoldSettled", at: at(132) })
        .then([]);
    });

    it("meters nothing more against a closed hold", () => {
      const closedEarly: DeploymentEvent = {
        type: "PodHoldClosed",
        data: {
          deploymentId: "pod1",
          reservationId: HOLD.reservationId,
          amountMicros: 11_500,
          minutes: 1,
          closedAt: at(61),
        },
      };
      expect(holdCovers(fold([requested, createdNow(), prepaid(0), closedEarly]), 1)).toBe(false);
    });

    it("has no hold on an old stream: every minute is charged directly", () => {
      expect(holdCovers(fold([requested, created, started(0)]), 11_500)).toBe(false);
      spec.given([requested, created, started(0)]).when({ type: "CloseHold", at: at(1) }).then([]);
    });
  });

  describe("metering", () => {
    it("bills each started minute of a running pod, prepaid", () => {
      const state = fold([requested, created, started(0)]);
      expect(dueMinutes(state, new Date(at(0)))).toEqual([at(0)]);
      expect(dueMinutes(state, new Date(at(59)))).toEqual([at(0)]);
      expect(dueMinutes(state, new Date(at(125)))).toEqual([at(0), at(60), at(120)]);
    });

    it("never bills a metered minute again", () => {
      const state = fold([requested, created, started(0), metered(0), metered(1)]);
      expect(dueMinutes(state, new Date(at(125)))).toEqual([at(120)]);
      spec.given([requested, created, started(0), metered(0)]).when({
        type: "MeterMinute",
        minute: at(0),
        amountMicros: 1,
      }).then([]);
    });

    it("bills the minutes of a stopped interval not yet metered, and nothing after the stop", () => {
      const state = fold([requested, created, started(0), metered(0), stopped(130)]);
      expect(dueMinutes(state, new Date(at(900)))).toEqual([at(60), at(120)]);
    });

    it("bills a minute shared by a stop and a restart once", () => {
      const state = fold([requested, created, started(0), metered(0), stopped(20), started(40)]);
      expect(dueMinutes(state, new Date(at(50)))).toEqual([]);
      expect(dueMinutes(state, new Date(at(61)))).toEqual([at(60)]);
    });

    it("prices a minute exactly in micro-dollars", () => {
      expect(minutePriceMicros(0.69, 1)).toBe(11_500);
      expect(minutePriceMicros(0.69, 1.5)).toBe(17_250);
      expect(minutePriceMicros(2.99, 1)).toBe(49_833);
      expect(minutePriceMicros(0, 1)).toBe(0);
    });
  });
});
