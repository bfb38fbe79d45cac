import {
  decide,
  type DeploymentCommand,
  type DeploymentEvent,
  DeploymentRejected,
  dueMinutes,
  fold,
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
  it("records a rented pod as requested and created", () => {
    const events = given([]).when({
      type: "RequestPodDeployment",
      deploymentId: "pod1",
      accountId: "acct_1",
      name: "mistral",
      modelIdentifier: "mistral",
      gpuTypeId: "NVIDIA GeForce RTX 4090",
      costPerHourUsd: 0.69,
      at: T0,
    });
    expect(events).toEqual([requested, created]);
  });

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
