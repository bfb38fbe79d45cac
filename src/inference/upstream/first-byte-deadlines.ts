/** A call's first-byte timeout: `expire` runs at `due` unless the headers came first. */
export interface FirstByteDeadline {
  due: number;
  expire?: () => void;
}

/**
 * The first-byte timeouts of every call in flight on one timer. Every call has the same
 * timeout, so deadlines fall due in the order they were set: a queue whose head is the earliest.
 * A timer per call (a Timeout object set and cleared, and its garbage) was about 8 µs of CPU
 * per request at concurrency 64; here the one timer is re-armed about once per timeout while
 * calls are in flight. Settled calls leave the queue from its head, or all at once when they
 * outnumber the waiting ones (one call stuck until its timeout must not hold the rest).
 */
export class FirstByteDeadlines {
  private readonly queue: FirstByteDeadline[] = [];
  /** The queue starts here (entries before it are done); compacted as it grows. */
  private head = 0;
  /** Deadlines started and neither settled nor expired. */
  private waiting = 0;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly timeoutMs: number) {}

  /** Runs `expire` once the timeout has passed, unless `settle` is called first. */
  start(expire: () => void): FirstByteDeadline {
    const deadline: FirstByteDeadline = { due: performance.now() + this.timeoutMs, expire };
    this.queue.push(deadline);
    this.waiting++;
    if (this.timer === undefined) this.arm(this.timeoutMs);
    return deadline;
  }

  /** The headers came (or the call failed): the deadline no longer applies. */
  settle(deadline: FirstByteDeadline): void {
    if (!deadline.expire) return;
    deadline.expire = undefined;
    this.waiting--;
    this.dropSettled();
    if (this.head === this.queue.length && this.timer !== undefined) {
      // Nothing in flight: no timer keeps the process alive.
      clearTimeout(this.timer as Parameters<typeof clearTimeout>[0]);
      this.timer = undefined;
    }
  }

  private dropSettled(): void {
    while (this.head < this.queue.length && !this.queue[this.head].expire) this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.queue.length >= 1024 && this.waiting * 2 < this.queue.length) {
      let kept = 0;
      for (let i = this.head; i < this.queue.length; i++) {
        if (this.queue[i].expire) this.queue[kept++] = this.queue[i];
      }
      this.queue.length = kept;
      this.head = 0;
    }
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.expireDue(), Math.max(0, delayMs));
  }

  private expireDue(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.head < this.queue.length) {
      const deadline = this.queue[this.head];
      if (deadline.expire && deadline.due > now) break;
      this.head++;
      const expire = deadline.expire;
      if (!expire) continue;
      deadline.expire = undefined;
      this.waiting--;
      expire();
    }
    this.dropSettled();
    if (this.head < this.queue.length) this.arm(this.queue[this.head].due - now);
  }
}
