// `beam`: what a protocol module imports to reach the BEAM (erlang-python's
// erlang.call/erlang.send, QuickBEAM's Beam.call/send/self). One per process,
// as a context is one Node process: the port puts its bridge (bridge.ts)
// behind it; the test harness a stub (testing.ts stubBeam); imported
// anywhere else, every call says there is no context.
import { Atom, Pid, Term, Tuple } from "./term-types";
import { groupName } from "./protocol";

/** Where beam.send delivers: a pid, a registered name (an Atom, or a string
 * or binary naming an atom the node has), or `tuple(name, node)` for a name
 * on another node. */
export type Destination = Pid | Atom | string | Uint8Array | Tuple<Atom | string | Uint8Array>;

/** beam.apply's options. */
export interface CallOptions {
  /** ms the function may take before the call rejects with ECALLTIMEOUT and
   * its process is killed (default: the context's `beam_call_timeout`, 5000) */
  timeout?: number;
}

/** What stands behind `beam`: the port's bridge, or a test's stub. */
export interface BeamBackend {
  call(name: string, args: readonly unknown[], opts: CallOptions): Promise<Term>;
  send(dest: Destination, message: unknown): void;
  /** a publish to the group named by `group` (its bytes) */
  publish(group: Buffer, message: unknown): void;
  self(): Pid;
}

const unbound: BeamBackend = {
  call: () => Promise.reject(outside("beam.call")),
  send: () => {
    throw outside("beam.send");
  },
  publish: () => {
    throw outside("beam.publish");
  },
  self: () => {
    throw outside("beam.self");
  },
};

function outside(what: string): Error {
  return new Error(
    `${what}() needs a context: call it from a protocol module a context loaded, or stub it in tests (erlang-reactor/testing stubBeam)`,
  );
}

let backend: BeamBackend = unbound;

/** @internal Put `b` behind `beam` (the port, a stub); returns what was there.
 * `undefined`: none (every call says there is no context). */
export function setBeamBackend(b: BeamBackend | undefined): BeamBackend {
  const before = backend;
  backend = b ?? unbound;
  return before;
}

/**
 * The BEAM, from TypeScript: call Erlang functions, send to Erlang processes,
 * and this context's own pid. Values cross as docs/bridge.md tables them (no
 * JSON: binaries are Buffers, atoms Atoms, pids Pids...).
 */
export const beam = {
  /**
   * Call the Erlang function registered as `name` (the context's `handlers`
   * option, then `reactor:register_function/2`) with `args`; it runs in a
   * process of its own. Resolves with what it returns.
   *
   * Rejects with a ReactorError whose `code` says why: `EEXCEPTION` (it
   * raised or its process died; the message is the formatted reason),
   * `ENOFUNCTION` (no function has that name), `ECALLTIMEOUT` (no result
   * within the timeout: its process is killed), `EOVERLOADED` (the context
   * has `max_beam_calls` calls in flight: at once, nothing is sent),
   * `EBADTERM` (an atom the node does not have, or a result that cannot cross),
   * `ESTOPPING` (the context is stopping).
   *
   * @throws TypeError (at the call site, as encodeTerm) naming where in
   *   `args` a value that cannot cross is: `args[1].cb: cannot encode a function`.
   */
  call(name: string, ...args: unknown[]): Promise<Term> {
    return backend.call(name, args, {});
  },

  /** beam.call with the arguments as an array, and options (a timeout of its own). */
  apply(name: string, args: readonly unknown[], opts: CallOptions = {}): Promise<Term> {
    return backend.call(name, args, opts);
  },

  /**
   * Send `message` to a process, as Erlang's `erlang:send/2`: fire and
   * forget. A name nobody has registered, or an atom the node does not have,
   * drops the message; Erlang logs it and counts it (`beam_sends_dropped` in
   * `reactor_context:info/1`), since the answer could only come later.
   *
   * @throws TypeError naming where in `message` a value that cannot cross
   *   is, or for a `dest` that is none of the above.
   */
  send(dest: Destination, message: unknown): void {
    backend.send(dest, message);
  },

  /**
   * Publish `message` to `group` (a string is its UTF-8, 1 to 255 bytes),
   * as `reactor:publish/2` does from Erlang: every connection that joined it
   * (Protocol.join), on every connected node, gets `messageReceived(message)`
   * (this one too, if it is a member). Fire and forget: one frame to Erlang,
   * which sends one message to each context with members.
   *
   * @throws RangeError for a name out of bounds; TypeError naming where in
   *   `message` a value that cannot cross is.
   */
  publish(group: string | Uint8Array, message: unknown): void {
    backend.publish(groupName(group), message);
  },

  /** The context's pid: Erlang processes can be given it. */
  self(): Pid {
    return backend.self();
  },
};

/** The type of {@link beam}. */
export type Beam = typeof beam;
