// In the port, stdout carries frames and nothing else: console.*, stray
// stdout writes and uncaught errors become log lines that Erlang's logger
// prints with the context and the connection they came from.
import { format } from "util";
import { stackOf } from "./errors";
import type { Sink } from "./reactor";

// log and info at notice: the lowest level OTP's default logger prints.
const LEVELS = [
  ["log", "notice"],
  ["info", "notice"],
  ["warn", "warning"],
  ["error", "error"],
  ["debug", "debug"],
  ["trace", "debug"],
] as const;

/** Sends console.*, process.stdout.write, uncaught exceptions and unhandled
 * rejections to `sink.log`, attributed to `running()` (the connection whose
 * code is running, or null). Returns what puts them back as they were. */
export function redirectConsole(sink: Pick<Sink, "log">, running: () => number | null): () => void {
  const methods = console as unknown as Record<string, unknown>;
  const saved = LEVELS.map(([method]) => [method, methods[method]] as const);
  for (const [method, level] of LEVELS) {
    methods[method] = (...args: unknown[]) => sink.log(level, running(), format(...args));
  }
  // The port's fd 1 is stderr by now; still, what a protocol prints belongs in the log.
  const write = process.stdout.write;
  process.stdout.write = ((chunk: unknown) => {
    sink.log("notice", running(), String(chunk).replace(/\n$/, ""));
    return true;
  }) as typeof process.stdout.write;
  const onException = (e: unknown) => sink.log("error", running(), `uncaught exception: ${stackOf(e)}`);
  const onRejection = (e: unknown) => sink.log("error", running(), `unhandled rejection: ${stackOf(e)}`);
  process.on("uncaughtException", onException);
  process.on("unhandledRejection", onRejection);
  return () => {
    for (const [method, fn] of saved) methods[method] = fn;
    process.stdout.write = write;
    process.off("uncaughtException", onException);
    process.off("unhandledRejection", onRejection);
  };
}
