import type { Clock } from "./clock";
import type { TimerKind } from "./protocol";
export declare class ProtocolTimers {
    private readonly clock;
    /** a timer ran out: `ms` is what it was set to */
    private readonly fired;
    private readonly timers;
    private lastData;
    constructor(clock: Clock, 
    /** a timer ran out: `ms` is what it was set to */
    fired: (kind: TimerKind, ms: number) => void);
    /** (Re)start a timer; 0 (or less) clears it. */
    set(kind: TimerKind, ms: number): void;
    clear(): void;
    /** Data came (engine clock, ms): the idle count starts over. */
    data(now: number): void;
    /** An idle timer that fires early (data came since it was set) waits the
     * rest: data never touches a timer, so it costs nothing per read. */
    private due;
}
