// A connection's own timers (Protocol.setIdleTimeout, setDeadline), as Node's
// socket.setTimeout and Bun's `timeout`: the idle one counts from the last
// data, the deadline from when it was set.
import type { Clock } from "./clock";
import type { TimerKind } from "./protocol";

export class ProtocolTimers {
  private readonly timers: Partial<Record<TimerKind, { ms: number; handle: unknown }>> = {};
  private lastData = 0;

  constructor(
    private readonly clock: Clock,
    /** a timer ran out: `ms` is what it was set to */
    private readonly fired: (kind: TimerKind, ms: number) => void,
  ) {}

  /** (Re)start a timer; 0 (or less) clears it. */
  set(kind: TimerKind, ms: number): void {
    const t = this.timers[kind];
    if (t) this.clock.clearTimeout(t.handle);
    delete this.timers[kind];
    if (!(ms > 0)) return;
    if (kind === "idle") this.lastData = this.clock.now();
    this.timers[kind] = { ms, handle: this.clock.setTimeout(() => this.due(kind), ms) };
  }

  clear(): void {
    this.set("idle", 0);
    this.set("deadline", 0);
  }

  /** Data came (engine clock, ms): the idle count starts over. */
  data(now: number): void {
    this.lastData = now;
  }

  /** An idle timer that fires early (data came since it was set) waits the
   * rest: data never touches a timer, so it costs nothing per read. */
  private due(kind: TimerKind): void {
    const t = this.timers[kind];
    if (!t) return;
    if (kind === "idle") {
      const left = this.lastData + t.ms - this.clock.now();
      if (left > 0) {
        t.handle = this.clock.setTimeout(() => this.due(kind), left);
        return;
      }
    }
    delete this.timers[kind];
    this.fired(kind, t.ms);
  }
}
