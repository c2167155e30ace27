import type { BeamBackend, CallOptions, Destination } from "./beam";
import { ReactorError } from "./errors";
import { Pid, Term } from "./term-types";
/** The first byte of a bridge frame's payload. */
export declare const BRIDGE_TAG = 66;
/** What the bridge needs of the outbox: frames out, and a flush soon. */
export interface BridgeOut {
    /** a frame's payload, sent at the next flush in order with the control messages */
    sendFrame(payload: Buffer): void;
    wake(): void;
}
/** The functions Erlang may call by name (what the protocol module and its setup code export). */
export interface FunctionTable {
    exported(name: string): ((...args: unknown[]) => unknown) | undefined;
}
/** Runs `eval` source (evaluate.ts): its value, a Promise of it, or a throw. */
export type Evaluator = (source: string) => unknown;
export interface BridgeConfig {
    /** beam.calls in flight at most; past it a call rejects at once with EOVERLOADED */
    maxBeamCalls: number;
    /** ms a beam.call may take unless it says otherwise */
    beamCallTimeout: number;
    /** the context's pid, for beam.self() */
    self?: Pid;
}
/** A handler of one kind of message from Erlang: the elements after the kind. */
export type BridgeHandler = (elements: readonly Term[]) => void;
export declare class BridgeError extends Error {
}
/** One context's bridge: Erlang's calls into exported functions and eval, and
 * beam.call/send/self the other way (it is what stands behind `beam`). */
export declare class Bridge implements BeamBackend {
    private readonly out;
    private readonly functions;
    private readonly config;
    private readonly evaluate;
    private readonly kinds;
    private readonly pending;
    private nextId;
    private stopped;
    constructor(out: BridgeOut, functions: FunctionTable, config: BridgeConfig, evaluate?: Evaluator);
    /** Handle messages of `kind` from Erlang with `handler` (one per kind). */
    on(kind: string, handler: BridgeHandler): void;
    /** A bridge frame's payload after the tag byte. A payload that is not a
     * tagged tuple, or of a kind nobody handles, is a BridgeError: Erlang's side is broken. */
    receive(payload: Uint8Array): void;
    /** Send `elements` (the first an Atom naming the kind) to Erlang as one
     * message; each element is encoded on its own, so an error names where in it.
     * @throws TypeError or RangeError (encodeTerm's), `what` naming each element. */
    message(elements: readonly unknown[], what?: readonly string[]): void;
    private callExported;
    /** Runs what Erlang asked for call `id` and answers {result, ...}: now if
     * it returns, when it settles if it is a Promise. */
    private run;
    private result;
    call(name: string, args: readonly unknown[], opts: CallOptions): Promise<Term>;
    send(dest: Destination, message: unknown): void;
    publish(group: Buffer, message: unknown): void;
    self(): Pid;
    private reply;
    /** The context is stopping: every beam.call in flight rejects with
     * `reason`, and so do those made from now on. */
    stop(reason: ReactorError): void;
    /** beam.calls in flight. */
    get inFlight(): number;
}
/** "B", then the tuple of `elements` (`what[i]` names element i in an
 * error; the default is encodeTerm's "value"). */
export declare function frameOf(elements: readonly unknown[], what?: readonly string[]): Buffer;
/** The longest timeout a beam.call may have: Erlang's receive takes at most 2^32 - 1 ms. */
export declare const MAX_CALL_TIMEOUT = 4294967295;
/** @throws TypeError for a timeout that is not a whole number of ms from 0 to MAX_CALL_TIMEOUT. */
export declare function checkTimeout(timeout: unknown): void;
/** beam.send's TypeError for what is not a destination. */
export declare const NOT_A_DESTINATION = "beam.send: the destination is a Pid, a name (an Atom, a string, a binary) or tuple(name, node)";
/** Whether beam.send can send to `d` (bridge and stub alike). */
export declare function isDestination(d: unknown): d is Destination;
