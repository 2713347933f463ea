// The client's share of the node's per-connection frame rate
// (welcome.limits), so that a burst of frames is paced, not refused.

import type { WireLimits } from "./types.js";

/**
 * TokenBucket is a token bucket that may go into debt: a sender reserves
 * a token and waits until it is due. Waiters are released in the order
 * they asked, by one timer (timers of different lengths that expire in
 * the same turn of a busy event loop do not fire in expiry order). It
 * keeps a margin under the node's limits (90% of the rate, 80% of the
 * burst) for network jitter and for the pongs that share the node's
 * bucket.
 */
export class TokenBucket {
  private rate = 0; // tokens per millisecond; 0 = no limit
  private burst = 1;
  private tokens = 1;
  private last = 0;
  private queue: { due: number; go(): void }[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** set configures the bucket from the node's limits and fills it. */
  set(l: Pick<WireLimits, "rate" | "burst">): void {
    if (!(l.rate > 0)) {
      this.rate = 0;
      return;
    }
    this.rate = (l.rate * 0.9) / 1000;
    this.burst = Math.max(1, l.burst * 0.8);
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** reserve takes a token and returns how many milliseconds to wait before using it. */
  reserve(): number {
    if (this.rate === 0) return 0;
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate);
    this.last = now;
    this.tokens--;
    return this.tokens >= 0 ? 0 : -this.tokens / this.rate;
  }

  /** wait reserves a token and resolves when it is due, after every earlier waiter; aborting gives the token back. */
  wait(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const d = this.reserve();
    if (d <= 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        due: this.now() + d,
        go: () => {
          signal?.removeEventListener("abort", abort);
          resolve();
        },
      };
      const abort = (): void => {
        const i = this.queue.indexOf(w);
        if (i >= 0) this.queue.splice(i, 1);
        this.tokens++;
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.queue.push(w);
      this.arm();
    });
  }

  private arm(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const now = this.now();
        while (this.queue.length > 0 && this.queue[0]!.due <= now) this.queue.shift()!.go();
        this.arm();
      },
      Math.max(0, Math.ceil(this.queue[0]!.due - this.now())),
    );
  }
}
