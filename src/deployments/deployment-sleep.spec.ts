import { decide, type DeploymentEvent, fold } from "./deployment.decider.ts";
import { monthSpendMicros, spendCapReached, wakesOnRequest } from "./deployment-sleep.ts";

const T0 = "2026-01-31T23:58:00.000Z";
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

const history: DeploymentEvent[] = [
  {
    type: "DeploymentRequested",
    data: {
      deploymentId: "pod1",
      accountId: "acct_1",
      provider: "runpod",
      name: "mistral",
      modelIdentifier: "mistral",
      gpuTypeId: "NVIDIA GeForce RTX 4090",
      sleep: { idleTimeoutS: 300, maxSpendMicros: 20_000 },
      requestedAt: T0,
    },
  },
  {
    type: "PodCreated",
    data: {
      deploymentId: "pod1",
      podId: "pod1",
      gpuTypeId: "NVIDIA GeForce RTX 4090",
      costPerHourUsd: 0.69,
      createdAt: T0,
      billedFrom: "created",
    },
  },
  {
    type: "PodStopped",
    data: { deploymentId: "pod1", reason: "idle", stoppedAt: at(30) },
  },
];

describe("deployment sleep and wake (decider)", () => {
  it("lets one wake through while another is pending, and a stale one be taken over", () => {
    const stopped = fold(history);
    expect(wakesOnRequest(stopped.sleep)).toBe(true);
    const first = decide({ type: "RequestWake", at: at(60), staleAfterMs: 600_000 }, stopped);
    expect(first.map((e) => e.type)).toEqual(["DeploymentWakeRequested"]);
    const pending = fold(first, stopped);
    expect(decide({ type: "RequestWake", at: at(61), staleAfterMs: 600_000 }, pending)).toEqual([]);
    expect(decide({ type: "RequestWake", at: at(700), staleAfterMs: 600_000 }, pending).length)
      .toBe(1);
    const woken = fold(decide({ type: "MarkWoken", waitedMs: 1200, at: at(62) }, pending), pending);
    expect(woken.wake?.outcome).toBe("woken");
    expect(decide({ type: "MarkWoken", waitedMs: 1, at: at(63) }, woken)).toEqual([]);
  });

  it("sums a calendar month's spend, starts the next month at zero, and caps before passing it", () => {
    const metered = fold([
      ...history,
      {
        type: "DeploymentUsageMetered",
        data: { deploymentId: "pod1", accountId: "acct_1", minute: at(0), amountMicros: 11_500 },
      },
    ]);
    expect(monthSpendMicros(metered, at(60))).toBe(11_500);
    expect(spendCapReached(metered, at(60), 11_500)).toBe(true); // 23,000 > 20,000
    expect(spendCapReached(metered, at(60), 8_500)).toBe(false);
    expect(monthSpendMicros(metered, at(180))).toBe(0); // February
    expect(spendCapReached(metered, at(180), 11_500)).toBe(false);
  });

  it("replaces the pod on the same deployment only once the old hold is settled", () => {
    const stopped = fold(history);
    const events = decide({
      type: "ReplacePod",
      newPodId: "pod2",
      gpuTypeId: "NVIDIA GeForce RTX 4090",
      costPerHourUsd: 0.69,
      reason: "no GPU",
      at: at(90),
    }, stopped);
    const replaced = fold(events, stopped);
    expect(replaced).toMatchObject({
      deploymentId: "pod1",
      podId: "pod2",
      status: "provisioning",
      runningSince: at(90),
    });
  });
});
