/** A transport that can hold writes: what WriteCork asks of it. */
export interface Corkable {
    /** Writes what it holds in one syscall; what the kernel leaves waits in it. */
    uncork(): void;
}
/** One engine's cork: active while a slice of ready connections is served. */
export declare class WriteCork {
    private active;
    private held;
    private bytes;
    /** Writes of `n` bytes more from a transport that holds `has` already may
     * be held now. */
    admits(has: number, n: number): boolean;
    /** `t` holds `n` bytes more; `first`: it held none before. */
    hold(t: Corkable, n: number, first: boolean): void;
    /** Runs `serve` corked: what its writes held goes out when it returns or throws. */
    run<T>(serve: () => T): T;
}
