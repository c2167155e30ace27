export interface Clock {
    now(): number;
    setTimeout(fn: () => void, ms: number): unknown;
    clearTimeout(handle: unknown): void;
    /** a repeating timer that does not keep the process alive */
    setInterval(fn: () => void, ms: number): unknown;
    clearInterval(handle: unknown): void;
}
export declare const realClock: Clock;
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
