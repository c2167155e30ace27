import type { Term } from "./term-types";
export declare class Inbox {
    /** the most messages that wait */
    readonly max: number;
    /** whether the protocol takes a message now */
    private readonly takes;
    /** the protocol takes it (messageReceived) */
    private readonly take;
    private items;
    private head;
    constructor(
    /** the most messages that wait */
    max: number, 
    /** whether the protocol takes a message now */
    takes: () => boolean, 
    /** the protocol takes it (messageReceived) */
    take: (term: Term) => void);
    /** Messages waiting. */
    get length(): number;
    /** A message: taken now ("taken"), behind the others ("queued"), or
     * nothing when `max` wait already ("full"). */
    offer(term: Term): "taken" | "queued" | "full";
    /** The protocol takes what waits, in order, while it takes any. */
    drain(): void;
    /** Drop what waits; returns how many were dropped. */
    clear(): number;
}
