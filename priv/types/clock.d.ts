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
export declare class RealClock implements Clock {
    private held;
    now(): number;
    /** Reads the time and holds it as `now()` until `release()`; returns
     * `performance.now()`'s reading. */
    hold(): number;
    release(): void;
    setTimeout(fn: () => void, ms: number): unknown;
    clearTimeout(h: unknown): void;
    setInterval(fn: () => void, ms: number): unknown;
    clearInterval(h: unknown): void;
}
export declare const realClock: RealClock;
/** Time that moves only when told to: timers run in order as it passes. */
export declare class ManualClock implements Clock {
    private t;
    private seq;
    private readonly timers;
    now(): number;
    setTimeout(fn: () => void, ms: number): unknown;
    clearTimeout(h: unknown): void;
    setInterval(fn: () => void, ms: number): unknown;
    clearInterval(h: unknown): void;
    /** Move time forward by `ms`, running each timer that falls due, in order. */
    advance(ms: number): void;
}
