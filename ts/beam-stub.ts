// erlang-reactor/testing's stubBeam(): `beam` answered by TypeScript functions,
// so that code calling the BEAM is unit-testable without one. Values cross
// the stub as they cross the bridge (encoded and decoded with term.ts): a
// string argument reaches the stub as a Buffer, an argument that cannot cross
// throws the same TypeError at the call site, and what the stub returns comes
// back in the shape Erlang's terms decode to.
import { BeamBackend, CallOptions, Destination, setBeamBackend } from "./beam";
import { NOT_A_DESTINATION, checkTimeout, isDestination } from "./bridge";
import { ReactorError } from "./errors";
import { decodeTerm, encodeTerm } from "./term";
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
  readonly sent: { dest: Destination; message: Term }[];
  /** every beam.publish, in order: the group's name as text, the term as
   * Erlang gets it (the harness's `t.publish(group, message)` delivers it
   * back to a connection, as Erlang would to every member) */
  readonly published: { group: string; message: Term }[];
  /** what beam.self() returns: a pid of the node `stub@test` */
  readonly self: Pid;
  /** Answer beam.call(name) with `fn` from now on (replacing what was). */
  define(name: string, fn: BeamFunction): this;
  /** Put back what stood behind `beam` before (call it in afterEach). */
  restore(): void;
}

/** A pid of `stub@test` (NEW_PID_EXT): TypeScript cannot make one otherwise. */
function stubPid(): Pid {
  const node = Buffer.from("stub@test");
  const bytes = Buffer.concat([Buffer.of(131, 88, 119, node.length), node, Buffer.alloc(12)]);
  bytes.writeUInt32BE(1, bytes.length - 12);
  return decodeTerm(bytes) as Pid;
}

/** What crosses the bridge comes out of it so. */
const across = (v: unknown, name?: string): Term => decodeTerm(encodeTerm(v, name));

/**
 * Put `functions` behind `beam` (for this process: `beam` is one per process,
 * as in a context's Node; restore() in afterEach). beam.call(name, ...args)
 * runs functions[name]; a name with no function rejects with ENOFUNCTION, a
 * throw or rejection with EEXCEPTION (its message), a result that cannot
 * cross with EBADTERM. Timeouts are not simulated: a function that never
 * settles leaves its call pending.
 */
export function stubBeam(functions: Record<string, BeamFunction> = {}): BeamStub {
  const table = new Map(Object.entries(functions));
  const stub: BeamStub = {
    calls: [],
    sent: [],
    published: [],
    self: stubPid(),
    define(name, fn) {
      table.set(name, fn);
      return this;
    },
    restore() {
      setBeamBackend(before);
    },
  };
  const backend: BeamBackend = {
    call(name: string, args: readonly unknown[], opts: CallOptions): Promise<Term> {
      if (typeof name !== "string") throw new TypeError("beam.call: the name is a string");
      if (opts.timeout !== undefined) checkTimeout(opts.timeout);
      const decoded = across(args, "args") as Term[]; // throws here, at the call site, as the bridge does
      stub.calls.push({ name, args: decoded, ...(opts.timeout === undefined ? {} : { timeout: opts.timeout }) });
      const fn = table.get(name);
      const head = `beam.call("${name}")`;
      if (!fn) return Promise.reject(new ReactorError("ENOFUNCTION", `${head}: no function is registered as "${name}"`));
      return new Promise<unknown>((resolve) => resolve(fn(...decoded))).then(
        (v) => {
          try {
            return across(v);
          } catch (e) {
            throw new ReactorError("EBADTERM", `${head}: the result cannot cross the bridge: ${(e as Error).message}`);
          }
        },
        (e: unknown) => {
          throw new ReactorError("EEXCEPTION", `${head}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        },
      );
    },
    send(dest: Destination, message: unknown): void {
      if (!isDestination(dest)) throw new TypeError(NOT_A_DESTINATION);
      stub.sent.push({ dest, message: across(message, "message") });
    },
    publish(group: Buffer, message: unknown): void {
      stub.published.push({ group: group.toString(), message: across(message, "message") });
    },
    self: () => stub.self,
  };
  const before = setBeamBackend(backend);
  return stub;
}
