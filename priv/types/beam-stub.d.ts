import { Destination } from "./beam";
import { Pid, Term } from "./term-types";
/** A function standing in for an Erlang one: its value (or a Promise of it)
 * resolves the beam.call; a throw rejects it with EEXCEPTION. */
export type BeamFunction = (...args: Term[]) => unknown;
/** A beam.call the stub answered (or refused). */
export interface StubbedCall {
    name: string;
    args: Term[];
    /** the call's own timeout, if it gave one (beam.apply) */
    timeout?: number;
}
/** What stubBeam() gives: what was called and sent, and the way back. */
export interface BeamStub {
    /** every beam.call, in order, its args as Erlang would have them */
    readonly calls: StubbedCall[];
    /** every beam.send, in order */
    readonly sent: {
        dest: Destination;
        message: Term;
    }[];
    /** every beam.publish, in order: the group's name as text, the term as
     * Erlang gets it (the harness's `t.publish(group, message)` delivers it
     * back to a connection, as Erlang would to every member) */
    readonly published: {
        group: string;
        message: Term;
    }[];
    /** what beam.self() returns: a pid of the node `stub@test` */
    readonly self: Pid;
    /** Answer beam.call(name) with `fn` from now on (replacing what was). */
    define(name: string, fn: BeamFunction): this;
    /** Put back what stood behind `beam` before (call it in afterEach). */
    restore(): void;
}
/**
 * Put `functions` behind `beam` (for this process: `beam` is one per process,
 * as in a context's Node; restore() in afterEach). beam.call(name, ...args)
 * runs functions[name]; a name with no function rejects with ENOFUNCTION, a
 * throw or rejection with EEXCEPTION (its message), a result that cannot
 * cross with EBADTERM. Timeouts are not simulated: a function that never
 * settles leaves its call pending.
 */
export declare function stubBeam(functions?: Record<string, BeamFunction>): BeamStub;
