export type ReactorErrorCode = "EINVALIDACTION" | "EHANDLER" | "ECLOSEDBYREACTOR" | "ESTOPPING" | "ECALLBACKTIMEOUT" | "EIDLETIMEOUT" | "EDEADLINE" | "ECLOSETIMEOUT" | "EMESSAGEOVERFLOW" | "EHANDSHAKETIMEOUT" | "EEXCEPTION" | "ENOFUNCTION" | "ECALLTIMEOUT" | "EOVERLOADED" | "EBADTERM";
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
