export type ReactorErrorCode = "EINVALIDACTION" | "EHANDLER" | "ECLOSEDBYREACTOR" | "ESTOPPING" | "ECALLBACKTIMEOUT" | "EIDLETIMEOUT" | "EDEADLINE" | "ECLOSETIMEOUT" | "EMESSAGEOVERFLOW" | "EHANDSHAKETIMEOUT" | "ENOSTARTTLS" | "ETLSACTIVE" | "EEXCEPTION" | "ENOFUNCTION" | "ECALLTIMEOUT" | "EOVERLOADED" | "EBADTERM";
export declare class ReactorError extends Error {
    readonly code: ReactorErrorCode;
    constructor(code: ReactorErrorCode, message: string, options?: {
        cause?: unknown;
    });
}
/** An error from a syscall, as the addon throws it. */
export interface SystemError extends Error {
    code: string;
    errno: number;
    syscall: string;
}
export declare function isSystemError(e: unknown): e is SystemError;
/** A value as a log line shows it (a handler's bad return, a non-Error throw). */
export declare function describe(v: unknown): string;
/** An error's stack for the log, whatever was thrown. */
export declare function stackOf(e: unknown): string;
/** A datagram's destination as Node's dgram `send` checks it: `port` an
 * integer 1-65535 (a number, or a string of one as Node also takes), else a
 * RangeError with code ERR_SOCKET_BAD_PORT; `addr` a string, else a
 * TypeError with code ERR_INVALID_ARG_TYPE. Both throw synchronously. An
 * address that is a string but not an IP literal is not checked here: no
 * DNS lookup is made, and the send reports EINVAL to datagramError, as Node
 * reports a failed lookup to the send's callback. Returns the port as a number. */
export declare function datagramPort(addr: unknown, port: unknown): number;
