import {
  decide,
  type DeploymentCommand,
  type DeploymentEvent,
  DeploymentRejected,
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

/** given(events).when(command) → then(events) */
function given(events: DeploymentEvent[]) {
  return { when: (command: DeploymentCommand) => decide(command, fold(events)) };
}

describe("deployment decider", () => {
  it("records a rented pod as requested and created, billed from creation, with its hold", () => {
    const events = given([]).when({
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
    });
    expect(events).toEqual([requested, createdNow(0)]);
  });

  it.each([0, -1, Number.NaN, undefined])(
    "refuses to record a pod RunPod priced at %p: a pod is never free by accident",
    (cost) => {
      expect(() =>
        given([]).when({
          type: "RequestPodDeployment",
          deploymentId: "pod1",
          accountId: "acct_1",
          name: "mistral",
          modelIdentifier: "mistral",
          gpuTypeId: "x",
          costPerHourUsd: cost as number,
          at: T0,
        })
      ).toThrow(/no usable price/);
    },
  );

  it("refuses to create the same deployment twice", () => {
    expect(() =>
      given([requested, created]).when({
        type: "RequestPodDeployment",
        deploymentId: "pod1",
        accountId: "acct_1",
        name: "mistral",
        modelIdentifier: "mistral",
        gpuTypeId: "x",
        costPerHourUsd: 1,
        at: T0,
      })
    ).toThrow(DeploymentRejected);
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
    expect(
      given([requested, created, healthy]).when({
        type: "RecordHealth",
        healthy: true,
        services: { ollama: "running" },
        responseTimeMs: 9,
        at: at(5),
      }),
    ).toEqual([]);
  });

  it("stops an active pod once; a second stop (another reconciler) decides nothing", () => {
    const stop: DeploymentCommand = { type: "StopPod", reason: "external", at: at(30) };
    expect(given([requested, created, started(0)]).when(stop)).toEqual([stopped(30, "external")]);
    expect(given([requested, created, started(0), stopped(30, "external")]).when(stop)).toEqual([]);
  });

  it("refuses to start a terminated deployment", () => {
    const terminated: DeploymentEvent = {
      type: "PodTerminated",
      data: { deploymentId: "pod1", terminatedAt: at(1) },
    };
    expect(() =>
      given([requested, created, terminated]).when({
        type: "MarkPodStarted",
        baseUrl: "x",
        at: at(2),
      })
    ).toThrow(DeploymentRejected);
  });

  it("fails a running pod with a stop (reason failed) then the failure", () => {
    const events = given([requested, created, started(0)]).when({
      type: "FailDeployment",
      reason: "boom",
      podStopped: true,
      at: at(10),
    });
    expect(events.map((e) => e.type)).toEqual(["PodStopped", "DeploymentFailed"]);
    expect(events[0].data).toMatchObject({ reason: "failed", detail: "boom" });
  });

  it("records a failure whose pod was terminated as leaving no pod behind", () => {
    const events = given([requested, createdNow()]).when({
      type: "FailDeployment",
      reason: "pull failed",
      podStopped: false,
      podTerminated: true,
      at: at(90),
    });
    expect(events).toEqual([{
      type: "DeploymentFailed",
      data: { deploymentId: "pod1", reason: "pull failed", failedAt: at(90), podTerminated: true },
    }]);
    expect(fold([requested, createdNow(), ...events]).podGone).toBe(true);
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
      const events = given([requested, createdNow(0), stopped(30)]).when({
        type: "ResumePod",
        costPerHourUsd: 0.74,
        at: at(200),
      });
      // The prepaid window ends with the stop's minutes; the restart is charged minute by minute.
      expect(events).toEqual([
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
      const state = fold([requested, createdNow(0), stopped(30), ...events]);
      expect(state.status).toBe("provisioning");
      expect(state.costPerHourUsd).toBe(0.74);
      expect(dueMinutes(state, new Date(at(250)))).toEqual([at(0), at(180), at(240)]);
    });

    it("refuses a restart RunPod reports no price for", () => {
      expect(() =>
        given([requested, createdNow(0), stopped(30)]).when({
          type: "ResumePod",
          costPerHourUsd: 0,
          at: at(200),
        })
      ).toThrow(DeploymentRejected);
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
      expect(
        given([requested, createdNow()]).when({
          type: "MeterMinute",
          minute: at(0),
          amountMicros: 11_500,
          prepaid: true,
        }),
      ).toEqual([prepaid(0)]);
    });

    it("refuses a prepaid minute past the hold's minutes or amount", () => {
      const full = [requested, createdNow(), prepaid(0), prepaid(1)];
      expect(holdCovers(fold(full), 11_500)).toBe(false);
      expect(() =>
        given(full).when({
          type: "MeterMinute",
          minute: at(120),
          amountMicros: 11_500,
          prepaid: true,
        })
      ).toThrow(/prepaid hold cannot cover/);
      // A pricier minute than the hold was priced at does not fit either.
      expect(holdCovers(fold([requested, createdNow(), prepaid(0)]), 11_501)).toBe(false);
    });

    it("closes the hold at exactly the prepaid minutes' sum, once, then records the settlement", () => {
      const used = [requested, createdNow(), prepaid(0), prepaid(1)];
      const closed = given(used).when({ type: "CloseHold", at: at(130) });
      expect(closed).toEqual([{
        type: "PodHoldClosed",
        data: {
          deploymentId: "pod1",
          reservationId: HOLD.reservationId,
          amountMicros: 23_000,
          minutes: 2,
          closedAt: at(130),
        },
      }]);
      expect(given([...used, ...closed]).when({ type: "CloseHold", at: at(140) })).toEqual([]);
      const settled = given([...used, ...closed]).when({ type: "MarkHoldSettled", at: at(131) });
      expect(settled).toEqual([{
        type: "PodHoldSettled",
        data: {
          deploymentId: "pod1",
          reservationId: HOLD.reservationId,
          amountMicros: 23_000,
          settledAt: at(131),
        },
      }]);
      expect(given([...used, ...closed, ...settled]).when({ type: "MarkHoldSettled", at: at(132) }))
        .toEqual([]);
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
      expect(given([requested, created, started(0)]).when({ type: "CloseHold", at: at(1) }))
        .toEqual([]);
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
      expect(
        given([requested, created, started(0), metered(0)]).when({
          type: "MeterMinute",
          minute: at(0),
          amountMicros: 1,
        }),
      )
        .toEqual([]);
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
