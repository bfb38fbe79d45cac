/**
 * Test-only, loaded with `deno run --preload` into the gateway child of the fault schedule, never
 * by the service itself: moves this process's wall clock (Date, hence the service's injectable
 * systemClock and the event store's recording time) forward by the milliseconds written in
 * $FAULT_CLOCK_FILE, re-read every 100 ms. Monotonic timers (setTimeout, performance.now) are
 * untouched, as they are when a real host clock jumps.
 */
const file = Deno.env.get("FAULT_CLOCK_FILE");
if (file) {
  let offset = 0;
  const read = () => {
    try {
      offset = Number(Deno.readTextFileSync(file).trim()) || 0;
    } catch {
      // Not written yet: no jump.
    }
  };
  read();
  Deno.unrefTimer(setInterval(read, 100) as unknown as number);
  const RealDate = Date;
  const realNow = RealDate.now;
  class ShiftedDate extends RealDate {
    constructor(...args: unknown[]) {
      // Every Date form passes through; only "now" (no argument) is moved.
      super(...(args.length === 0 ? [realNow() + offset] : args) as [number]);
    }
    static override now(): number {
      return realNow() + offset;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
}
