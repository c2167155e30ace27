// The same error from one connection, logged once and then counted: a
// departed connection's setInterval that writes 20 times a second must not
// put 20 lines a second in the log, forever. Like syslog's "last message
// repeated N times", with summaries that back off as journald's rate limit
// does, and a table of bounded size.
import { Clock, realClock } from "./clock";
import type { LogLevel } from "./types";

export interface LogLimits {
  /** ms after the first line before its first summary; each next one waits twice as long */
  firstSummaryMs: number;
  /** the longest wait between two summaries of one error */
  maxSummaryMs: number;
  /** errors tracked at once; a new one past this flushes the table */
  maxKeys: number;
  /** how often due summaries are looked for (ms) */
  tickMs: number;
}

export const LOG_LIMITS: LogLimits = { firstSummaryMs: 1000, maxSummaryMs: 60_000, maxKeys: 1024, tickMs: 250 };

/** The first line of a log text, as far as it names the error. */
const HEAD_MAX = 300;

type Emit = (level: LogLevel, id: number | null, text: string) => void;

interface Seen {
  level: LogLevel;
  id: number | null;
  head: string;
  /** times it came again since the last line about it */
  repeats: number;
  /** when that last line went out (ms) */
  since: number;
  /** ms until the next summary */
  wait: number;
}

/** Passes log lines on, except that an error or warning whose first line
 * (with the level and the connection) was logged already is counted instead:
 * the count goes out as "<first line> ... repeated N times in the last S s",
 * 1 s after the first line, then after 2, 4, ... up to 60 s while the error
 * keeps coming. An error quiet for a whole wait is forgotten: its next
 * occurrence is logged in full. Other levels pass untouched. */
export class LogLimiter {
  private readonly seen = new Map<string, Seen>();
  private ticker: unknown;

  constructor(
    private readonly emit: Emit,
    private readonly clock: Clock = realClock,
    private readonly limits: LogLimits = LOG_LIMITS,
  ) {}

  /** Errors and warnings being counted now. */
  get tracked(): number {
    return this.seen.size;
  }

  log(level: LogLevel, id: number | null, text: string): void {
    if (level !== "error" && level !== "warning") {
      this.emit(level, id, text);
      return;
    }
    const nl = text.indexOf("\n");
    const head = (nl < 0 ? text : text.slice(0, nl)).slice(0, HEAD_MAX);
    const key = `${id ?? "-"} ${level} ${head}`;
    const s = this.seen.get(key);
    if (s) {
      s.repeats++;
      return;
    }
    if (this.seen.size >= this.limits.maxKeys) this.flush();
    this.seen.set(key, { level, id, head, repeats: 0, since: this.clock.now(), wait: this.limits.firstSummaryMs });
    this.emit(level, id, text);
    if (this.ticker === undefined) this.ticker = this.clock.setInterval(() => this.tick(), this.limits.tickMs);
  }

  /** Summaries that are due go out; errors quiet for a whole wait are forgotten. */
  tick(): void {
    const now = this.clock.now();
    for (const [key, s] of this.seen) {
      if (now - s.since < s.wait) continue;
      if (s.repeats === 0) {
        this.seen.delete(key);
        continue;
      }
      this.summarize(s, now);
      s.wait = Math.min(s.wait * 2, this.limits.maxSummaryMs);
    }
    if (this.seen.size === 0 && this.ticker !== undefined) {
      this.clock.clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Every count now, and an empty table (it was full, or the port is leaving). */
  flush(): void {
    const now = this.clock.now();
    for (const s of this.seen.values()) if (s.repeats > 0) this.summarize(s, now);
    this.seen.clear();
  }

  private summarize(s: Seen, now: number): void {
    const secs = Math.max(1, Math.round((now - s.since) / 1000));
    this.emit(s.level, s.id, `${s.head} ... repeated ${s.repeats} times in the last ${secs} s`);
    s.repeats = 0;
    s.since = now;
  }
}
