import type { Clock } from "./clock";
import { ReactorError } from "./errors";
import type { Action } from "./protocol";
import type { BatchAction } from "./types";
/** The event a handler answered: "continue" re-arms it. */
export type Mode = "read" | "write";
/** What to arm for the Action a handler returned; EINVALIDACTION for
 * anything that is not one. */
export declare function batchActionOf(mode: Mode, a: unknown, name: string): BatchAction | ReactorError;
export declare function isThenable(v: unknown): v is Promise<Action>;
/** Waits for a handler's Promise: `settled` gets its Action; `failed` its
 * rejection, or ECALLBACKTIMEOUT once `limit` ms (0 = never) pass first.
 * Exactly one of the two runs. */
export declare function awaitAction(r: Promise<Action>, name: string, limit: number, clock: Clock, settled: (a: Action) => void, failed: (e: unknown) => void): void;
