import { LedgerRejected } from "../billing/ledger.decider.ts";
import { PendingSettlements } from "./pending-settlements.ts";

describe("PendingSettlements", () => {
  it("retries a settlement that fails transiently until it goes through", async () => {
    const settlements = new PendingSettlements([1, 1, 1]);
    let calls = 0;
    settlements.track("settlement", "inf_1", async () => {
      calls++;
      if (calls < 3) throw new Error("event store unavailable");
    });
    expect(settlements.size).toBe(1);
    await settlements.drain();
    expect(calls).toBe(3);
    expect(settlements.size).toBe(0);
  });

  it("does not retry a definitive refusal", async () => {
    const settlements = new PendingSettlements([1, 1, 1]);
    let calls = 0;
    settlements.track("settlement", "inf_2", async () => {
      calls++;
      throw new LedgerRejected("insufficient_credits", "Insufficient credits for this request");
    });
    await settlements.drain();
    expect(calls).toBe(1);
  });

  it("gives up after the bounded number of attempts", async () => {
    const settlements = new PendingSettlements([1, 1]);
    let calls = 0;
    settlements.track("release", "inf_3", async () => {
      calls++;
      throw new Error("still down");
    });
    await settlements.drain();
    expect(calls).toBe(3);
  });

  it("shutdown waits for settlements still in flight", async () => {
    const settlements = new PendingSettlements([]);
    let settled = false;
    settlements.track("settlement", "inf_4", async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      settled = true;
    });
    await settlements.beforeApplicationShutdown();
    expect(settled).toBe(true);
  });
});
