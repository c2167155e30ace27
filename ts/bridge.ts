// The bridge: terms both ways between the BEAM and this Node process, on the
// port beside the control protocol (codec.ts). A port frame whose payload
// starts with 131 is control; one that starts with "B" is the bridge's,
// "B" + the External Term Format (term.ts) of a tuple whose first element, an
// atom, names its kind. docs/bridge.md, "Wire", has every message.
//
//   Erlang -> Node: {call, CallId, Name, Args}, {eval, CallId, Source},
//                   {reply, ReqId, ok | error, Term},
//                   {message, ConnId, Term}, {publish, Group, Term},
//                   {joined, ConnId, Group} (port.ts)
//   Node -> Erlang: {result, CallId, ok | error, Term},
//                   {call, ReqId, Name, Args, Timeout}, {send, Dest, Term},
//                   {join, ConnId, Group}, {leave, ConnId, Group} (outbox.ts),
//                   {publish, Group, Term}
//
// Extension point: a kind from Erlang is a handler registered with on(kind,
// ...), given the elements after the kind; a kind to Erlang is a message()
// of its elements (the first an Atom naming it).
import { types } from "util";
import type { BeamBackend, CallOptions, Destination } from "./beam";
import { ReactorError, ReactorErrorCode, describe } from "./errors";
import { MAX_ID, MAX_LOG_TEXT } from "./limits";
import { decodeTerm } from "./term";
import { encodeTuple } from "./term-encode";
import { Atom, Pid, Term, Tuple, atom, utf8 } from "./term-types";

/** The levels of a bridge frame around the values in it (its tuple, a call's
 * argument list): each value nests up to MAX_TERM_DEPTH below them. */
const FRAME_LEVELS = 2;

/** The first byte of a bridge frame's payload. */
export const BRIDGE_TAG = 0x42; // "B"

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

export class BridgeError extends Error {}

const A = {
  call: atom("call"),
  send: atom("send"),
  publish: atom("publish"),
  result: atom("result"),
  ok: atom("ok"),
  error: atom("error"),
  exception: atom("exception"),
  no_function: atom("no_function"),
};

/** Erlang's error codes for a beam.call, as ReactorError codes. */
const CODES: Record<string, ReactorErrorCode> = {
  exception: "EEXCEPTION",
  no_function: "ENOFUNCTION",
  timeout: "ECALLTIMEOUT",
  overloaded: "EOVERLOADED",
  bad_term: "EBADTERM",
};

interface Pending {
  name: string;
  resolve(v: Term): void;
  reject(e: Error): void;
}

/** An Error of any realm (a module's code may run in another: jest's). */
const isError = (v: unknown): v is Error => v instanceof Error || types.isNativeError(v);

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as PromiseLike<unknown>).then === "function";

/** One context's bridge: Erlang's calls into exported functions and eval, and
 * beam.call/send/self the other way (it is what stands behind `beam`). */
export class Bridge implements BeamBackend {
  private readonly kinds = new Map<string, BridgeHandler>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private stopped: ReactorError | undefined;

  constructor(
    private readonly out: BridgeOut,
    private readonly functions: FunctionTable,
    private readonly config: BridgeConfig,
    private readonly evaluate: Evaluator = () => {
      throw new Error("eval is not available here");
    },
  ) {
    this.on("call", ([id, name, args]) => this.run(id, () => this.callExported(name, args)));
    this.on("eval", ([id, source]) => this.run(id, () => this.evaluate(text(source, "the source"))));
    this.on("reply", ([id, status, value]) => this.reply(id, status, value));
  }

  /** Handle messages of `kind` from Erlang with `handler` (one per kind). */
  on(kind: string, handler: BridgeHandler): void {
    if (this.kinds.has(kind)) throw new Error(`bridge: the kind ${kind} has a handler already`);
    this.kinds.set(kind, handler);
  }

  /** A bridge frame's payload after the tag byte. A payload that is not a
   * tagged tuple, or of a kind nobody handles, is a BridgeError: Erlang's side is broken. */
  receive(payload: Uint8Array): void {
    let m: Term;
    try {
      m = decodeTerm(payload, FRAME_LEVELS);
    } catch (e) {
      throw new BridgeError(`undecodable bridge frame: ${(e as Error).message}`);
    }
    const kind = m instanceof Tuple && m.elements[0] instanceof Atom ? m.elements[0].name : undefined;
    const handler = kind === undefined ? undefined : this.kinds.get(kind);
    if (!handler) throw new BridgeError(`bridge frame of no known kind: ${kind ?? typeof m}`);
    handler((m as Tuple).elements.slice(1));
  }

  /** Send `elements` (the first an Atom naming the kind) to Erlang as one
   * message; each element is encoded on its own, so an error names where in it.
   * @throws TypeError or RangeError (encodeTerm's), `what` naming each element. */
  message(elements: readonly unknown[], what: readonly string[] = []): void {
    this.out.sendFrame(frameOf(elements, what));
    this.out.wake();
  }

  // Erlang calls TypeScript

  private callExported(name: Term, args: Term): unknown {
    const fname = Buffer.isBuffer(name) ? name.toString() : String(name);
    const fn = this.functions.exported(fname);
    if (!fn) return new NoFunction(name);
    return fn(...(Array.isArray(args) ? args : [args]));
  }

  /** Runs what Erlang asked for call `id` and answers {result, ...}: now if
   * it returns, when it settles if it is a Promise. */
  private run(id: Term, fn: () => unknown): void {
    let v: unknown;
    try {
      v = fn();
    } catch (e) {
      return this.result(id, e, false);
    }
    if (!isThenable(v)) return this.result(id, v, true);
    v.then(
      (r) => this.result(id, r, true),
      (e) => this.result(id, e, false),
    );
  }

  private result(id: Term, v: unknown, ok: boolean): void {
    if (ok && v instanceof NoFunction) return this.message([A.result, id, A.error, new Tuple([A.no_function, v.name])]);
    if (ok) {
      try {
        return this.message([A.result, id, A.ok, v], ["", "", "", "result"]);
      } catch (e) {
        v = e; // cannot cross: Erlang gets the TypeError
      }
    }
    const e = isError(v) ? v : undefined;
    const message = e ? `${e.name}: ${e.message}` : `non-Error thrown: ${describe(v)}`;
    const stack = e?.stack ?? "";
    this.message([A.result, id, A.error, new Tuple([A.exception, bounded(message), bounded(stack)])]);
  }

  // TypeScript calls Erlang (beam)

  call(name: string, args: readonly unknown[], opts: CallOptions): Promise<Term> {
    if (typeof name !== "string") throw new TypeError("beam.call: the name is a string");
    if (!Array.isArray(args)) throw new TypeError("beam.apply: the arguments are an array");
    const timeout = opts.timeout ?? this.config.beamCallTimeout;
    checkTimeout(timeout);
    if (this.stopped) return Promise.reject(this.stopped);
    if (this.pending.size >= this.config.maxBeamCalls) {
      return Promise.reject(
        new ReactorError("EOVERLOADED", `beam.call("${name}"): ${this.pending.size} calls are in flight (max_beam_calls)`),
      );
    }
    let id = this.nextId;
    while (this.pending.has(id)) id = id === MAX_ID ? 0 : id + 1; // wrapped onto one still in flight
    // throws here, at the call site, for arguments that cannot cross
    const frame = frameOf([A.call, id, name, args, timeout], ["", "", "name", "args", ""]);
    this.nextId = id === MAX_ID ? 0 : id + 1;
    return new Promise<Term>((resolve, reject) => {
      this.pending.set(id, { name, resolve, reject });
      this.out.sendFrame(frame);
      this.out.wake();
    });
  }

  send(dest: Destination, message: unknown): void {
    if (!isDestination(dest)) throw new TypeError(NOT_A_DESTINATION);
    if (this.stopped) return; // as erlang:send/2 to a process that is gone
    this.message([A.send, dest, message], ["", "dest", "message"]);
  }

  publish(group: Buffer, message: unknown): void {
    if (this.stopped) return;
    this.message([A.publish, group, message], ["", "group", "message"]);
  }

  self(): Pid {
    if (!this.config.self) throw new Error("beam.self(): Erlang did not say the context's pid");
    return this.config.self;
  }

  private reply(id: Term, status: Term, value: Term): void {
    const p = typeof id === "number" ? this.pending.get(id) : undefined;
    if (!p) return; // rejected already (stop)
    this.pending.delete(id as number);
    if (status === A.ok) return p.resolve(value);
    const [code, text] = value instanceof Tuple ? value.elements : [];
    const why = code instanceof Atom ? code.name : "exception";
    p.reject(new ReactorError(CODES[why] ?? "EEXCEPTION", `beam.call("${p.name}"): ${Buffer.isBuffer(text) ? text : String(value)}`));
  }

  /** The context is stopping: every beam.call in flight rejects with
   * `reason`, and so do those made from now on. */
  stop(reason: ReactorError): void {
    this.stopped = reason;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(reason);
  }

  /** beam.calls in flight. */
  get inFlight(): number {
    return this.pending.size;
  }
}

/** {no_function, Name}: what callExported returns for a name nothing exports. */
class NoFunction {
  constructor(readonly name: Term) {}
}

/** "B", then the tuple of `elements` (`what[i]` names element i in an
 * error; the default is encodeTerm's "value"). */
export function frameOf(elements: readonly unknown[], what: readonly string[] = []): Buffer {
  if (elements.length > 255) throw new RangeError("a bridge message has at most 255 elements");
  return encodeTuple(FRAME_HEAD, elements, what);
}
const FRAME_HEAD = [BRIDGE_TAG];

/** The longest timeout a beam.call may have: Erlang's receive takes at most 2^32 - 1 ms. */
export const MAX_CALL_TIMEOUT = 0xffffffff;

/** @throws TypeError for a timeout that is not a whole number of ms from 0 to MAX_CALL_TIMEOUT. */
export function checkTimeout(timeout: unknown): void {
  if (!Number.isSafeInteger(timeout) || (timeout as number) < 0 || (timeout as number) > MAX_CALL_TIMEOUT)
    throw new TypeError(`beam.call: the timeout is a whole number of ms from 0 to ${MAX_CALL_TIMEOUT}`);
}

/** beam.send's TypeError for what is not a destination. */
export const NOT_A_DESTINATION = "beam.send: the destination is a Pid, a name (an Atom, a string, a binary) or tuple(name, node)";

const isName = (n: unknown) => n instanceof Atom || typeof n === "string" || n instanceof Uint8Array;

/** Whether beam.send can send to `d` (bridge and stub alike). */
export function isDestination(d: unknown): d is Destination {
  if (d instanceof Pid || isName(d)) return true;
  return d instanceof Tuple && d.size === 2 && d.elements.every(isName);
}

function text(v: Term, what: string): string {
  if (!Buffer.isBuffer(v)) throw new TypeError(`${what} is not a binary`);
  return utf8(v);
}

/** Text for Erlang, cut past MAX_LOG_TEXT: as UTF-8 bytes, so that a lone
 * surrogate (in a message, or made by the cut) is U+FFFD, not a TypeError. */
function bounded(s: string): Buffer {
  return Buffer.from(s.length > MAX_LOG_TEXT ? s.slice(0, MAX_LOG_TEXT) + "..." : s);
}
