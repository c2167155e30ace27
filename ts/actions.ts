// What a handler's answer means: an Action (what to arm next), a Promise that
// must settle within callback_timeout, or something that is not an Action.
import type { Clock } from "./clock";
import { ReactorError, describe } from "./errors";
import type { Action } from "./protocol";
import type { BatchAction } from "./types";

/** The event a handler answered: "continue" re-arms it. */
export type Mode = "read" | "write";

/** What to arm for the Action a handler returned; EINVALIDACTION for
 * anything that is not one. */
export function batchActionOf(mode: Mode, a: unknown, name: string): BatchAction | ReactorError {
  switch (a) {
    case "continue":
      return mode === "read" ? "read_pending" : "write_pending";
    case "read_pending":
    case "write_pending":
    case "close":
      return a;
    default:
      return new ReactorError(
        "EINVALIDACTION",
        `${name} returned ${describe(a)}; expected "continue", "write_pending", "read_pending" or "close"`,
      );
  }
}

export function isThenable(v: unknown): v is Promise<Action> {
  return typeof v === "object" && v !== null && typeof (v as Promise<Action>).then === "function";
}

/** Waits for a handler's Promise: `settled` gets its Action; `failed` its
 * rejection, or ECALLBACKTIMEOUT once `limit` ms (0 = never) pass first.
 * Exactly one of the two runs. */
export function awaitAction(
  r: Promise<Action>,
  name: string,
  limit: number,
  clock: Clock,
  settled: (a: Action) => void,
  failed: (e: unknown) => void,
): void {
  let done = false;
  let timer: unknown;
  const once =
    <T>(f: (v: T) => void) =>
    (v: T) => {
      if (done) return;
      done = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      f(v);
    };
  if (limit > 0) {
    const late = () => new ReactorError("ECALLBACKTIMEOUT", `${name} did not settle within ${limit} ms`);
    timer = clock.setTimeout(() => once(failed)(late()), limit);
  }
  r.then(once(settled), once(failed));
}
