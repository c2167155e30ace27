// Time as the engine sees it: the real clock in the port, a manual one in the
// test harness (erlang-reactor/testing), so timeouts can be tested without
// waiting for them.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** a repeating timer that does not keep the process alive */
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** The real clock: ms, monotonic (`performance.timeOrigin + performance.now()`,
 * so a wall-clock step moves no timeout), with a fraction. While the port serves
 * a slice of ready connections, `now()` is the time the current connection's
 * turn began, which the slice reads anyway (`hold`, serveSlice in batch.ts): a
 * request's reads, writes and timers then cost no clock read each. */
export class RealClock implements Clock {
  private held: number | undefined;

  now(): number {
    return this.held ?? performance.timeOrigin + performance.now();
  }
  /** Reads the time and holds it as `now()` until `release()`; returns
   * `performance.now()`'s reading. */
  hold(): number {
    const t = performance.now();
    this.held = performance.timeOrigin + t;
    return t;
  }
  release(): void {
    this.held = undefined;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return setTimeout(fn, ms);
  }
  clearTimeout(h: unknown): void {
    clearTimeout(h as NodeJS.Timeout);
  }
  setInterval(fn: () => void, ms: number): unknown {
    return setInterval(fn, ms).unref();
  }
  clearInterval(h: unknown): void {
    clearInterval(h as NodeJS.Timeout);
  }
}

export const realClock = new RealClock();

/** Time that moves only when told to: timers run in order as it passes. */
export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void; every?: number }>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    this.timers.set(++this.seq, { at: this.t + Math.max(0, ms), fn });
    return this.seq;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  setInterval(fn: () => void, ms: number): unknown {
    this.timers.set(++this.seq, { at: this.t + Math.max(1, ms), fn, every: Math.max(1, ms) });
    return this.seq;
  }
  clearInterval(h: unknown): void {
    this.timers.delete(h as number);
  }

  /** Move time forward by `ms`, running each timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void; every?: number }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.t = timer.at;
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
    }
    this.t = end;
  }
}
