// Errors a protocol can see. System errors keep the code Node gives them
// (err.code = "ECONNRESET", "EPIPE", ...); the reactor's own carry an E-code too.

export type ReactorErrorCode =
  | "EINVALIDACTION" // a handler returned something that is not an Action
  | "EHANDLER" // a handler threw or its promise rejected
  | "ECLOSEDBYREACTOR" // Erlang closed the connection (stop, shutdown, limit)
  | "ESTOPPING" // the context is stopping
  | "ECALLBACKTIMEOUT" // a handler's Promise did not settle in time
  | "EIDLETIMEOUT" // no event for longer than the idle timeout (the context's, or the protocol's own)
  | "EDEADLINE" // the protocol's deadline (setDeadline) passed
  | "ECLOSETIMEOUT" // a graceful close: the peer did not take the last bytes within close_timeout
  | "EMESSAGEOVERFLOW" // more messages waited for the protocol than max_queued_messages
  | "EHANDSHAKETIMEOUT" // a TLS handshake did not finish in time
  | "ENOSTARTTLS" // startTls() on a connection that has no starttls option set (its listener's or its context's)
  | "ETLSACTIVE" // startTls() on a connection that is under TLS already (its listener's tls, or an earlier startTls)
  // beam.call (beam.ts): why the call rejected
  | "EEXCEPTION" // the Erlang function raised, or its process died (the message is the formatted reason)
  | "ENOFUNCTION" // no Erlang function is registered under that name
  | "ECALLTIMEOUT" // no result within the call's timeout: its process was killed
  | "EOVERLOADED" // the context has max_beam_calls calls in flight: refused at once
  | "EBADTERM"; // an atom the node does not have, or a result that cannot cross

export class ReactorError extends Error {
  readonly code: ReactorErrorCode;
  constructor(code: ReactorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ReactorError";
    this.code = code;
  }
}

/** An error from a syscall, as the addon throws it. */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export function isSystemError(e: unknown): e is SystemError {
  return e instanceof Error && typeof (e as SystemError).code === "string" && typeof (e as SystemError).syscall === "string";
}

/** A value as a log line shows it (a handler's bad return, a non-Error throw). */
export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined || typeof v !== "object") return String(v);
  return Object.prototype.toString.call(v);
}

/** An error's stack for the log, whatever was thrown. */
export function stackOf(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : `non-Error thrown: ${describe(e)}`;
}

/** Node's own error shape for a programming error in a call's arguments:
 * thrown at once, never reported as the network's (err.code
 * "ERR_SOCKET_BAD_PORT", "ERR_INVALID_ARG_TYPE"). */
function argError<E extends Error>(ctor: new (m: string) => E, code: string, message: string): E & { code: string } {
  return Object.assign(new ctor(message), { code });
}

/** A datagram's destination as Node's dgram `send` checks it: `port` an
 * integer 1-65535 (a number, or a string of one as Node also takes), else a
 * RangeError with code ERR_SOCKET_BAD_PORT; `addr` a string, else a
 * TypeError with code ERR_INVALID_ARG_TYPE. Both throw synchronously. An
 * address that is a string but not an IP literal is not checked here: no
 * DNS lookup is made, and the send reports EINVAL to datagramError, as Node
 * reports a failed lookup to the send's callback. Returns the port as a number. */
export function datagramPort(addr: unknown, port: unknown): number {
  if (typeof addr !== "string") {
    throw argError(TypeError, "ERR_INVALID_ARG_TYPE", `The "address" argument must be of type string. Received ${describe(addr)}`);
  }
  const n = typeof port === "number" || (typeof port === "string" && port.trim() !== "") ? Number(port) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > 0xffff) {
    throw argError(RangeError, "ERR_SOCKET_BAD_PORT", `Port should be > 0 and < 65536. Received ${describe(port)}.`);
  }
  return n;
}
