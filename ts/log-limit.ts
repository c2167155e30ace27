// The same error from one connection, logged once and then counted: a
// departed connection's setInterval that writes 20 times a second must not
// put 20 lines a second in the log, forever. Like syslog's "last message
// repeated N times", with summaries that back off as journald's rate limit
// does. Memory and output are bounded whatever the number of connections:
// past a full table, new errors are counted together in one bucket per level
// ("... and N more errors from M connections ..., the first: <its first
// line>"), never by emptying the table
// (which made every error new again: the flood came back).
import { Clock, realClock } from "./clock";
import type { LogLevel } from "./types";

export interface LogLimits {
  /** ms after the first line before its first summary; each next one waits twice as long */
  firstSummaryMs: number;
  /** the longest wait between two summaries of one error */
  maxSummaryMs: number;
  /** errors tracked one by one at once; past this, new ones are counted together */
  maxKeys: number;
  /** connections the together-count tells apart in one summary; past this it says "at least" */
  maxOverflowIds: number;
  /** how often due summaries are looked for (ms) */
  tickMs: number;
}

export const LOG_LIMITS: LogLimits = {
  firstSummaryMs: 1000,
  maxSummaryMs: 60_000,
  maxKeys: 1024,
  maxOverflowIds: 65536,
  tickMs: 250,
};

/** The first line of a log text, as far as it names the error. */
const HEAD_MAX = 300;

/** What varies between occurrences of one error, for its grouping key: hex
 * (0x1f, or a run of 8 or more hex digits with a digit in it: ids, hashes),
 * then decimal numbers. "tick 17" and "tick 18" are one error. */
const VARYING = /\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b|\d+(?:\.\d+)?/gi;

const HAS_DIGIT = /\d/;

/** `head` with what varies in it replaced by "#". */
export function errorKey(head: string): string {
  return HAS_DIGIT.test(head) ? head.replace(VARYING, "#") : head;
}

type Emit = (level: LogLevel, id: number | null, text: string) => void;

/** When the next summary is due, and what it counts. */
interface Counted {
  /** times it came again since the last line about it */
  repeats: number;
  /** when that last line went out (ms) */
  since: number;
  /** ms until the next summary */
  wait: number;
}

interface Seen extends Counted {
  level: LogLevel;
  id: number | null;
  /** the first line as it was first logged */
  head: string;
  /** a repeat's first line differed from `head` (in its numbers) */
  varied: boolean;
}

/** Errors of one level past a full table, counted together. */
interface Overflow extends Counted {
  /** connections they came from since the last summary (at most maxOverflowIds) */
  ids: Set<number | null>;
  /** more connections than `ids` could hold */
  more: boolean;
  /** the first line of the first of them since the last summary */
  first: string;
}

/** Passes log lines on, except that an error or warning whose first line
 * (with the level and the connection, numbers aside) was logged already is
 * counted instead: the count goes out as "<first line> ... repeated N times
 * in the last S s", 1 s after the first line, then after 2, 4, ... up to
 * 60 s while the error keeps coming. An error quiet for a whole wait is
 * forgotten: its next occurrence is logged in full. With maxKeys errors
 * tracked, a new one is not logged but counted in its level's bucket, which
 * is summarized at the same backoff: "... and N more errors from M
 * connections in the last S s". Other levels pass untouched. */
export class LogLimiter {
  private readonly seen = new Map<string, Seen>();
  private readonly overflow = new Map<LogLevel, Overflow>();
  private ticker: unknown;

  private readonly limits: LogLimits;

  constructor(
    private readonly emit: Emit,
    private readonly clock: Clock = realClock,
    /** LOG_LIMITS where not given */
    limits: Partial<LogLimits> = {},
  ) {
    this.limits = { ...LOG_LIMITS, ...limits };
  }

  /** Errors and warnings being counted one by one now. */
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
    const key = `${id ?? "-"} ${level} ${errorKey(head)}`;
    const s = this.seen.get(key);
    if (s) {
      s.repeats++;
      if (head !== s.head) s.varied = true;
      return;
    }
    const now = this.clock.now();
    if (this.seen.size >= this.limits.maxKeys) this.countTogether(level, id, head, now);
    else {
      this.seen.set(key, { level, id, head, varied: false, repeats: 0, since: now, wait: this.limits.firstSummaryMs });
      this.emit(level, id, text);
    }
    if (this.ticker === undefined) this.ticker = this.clock.setInterval(() => this.tick(), this.limits.tickMs);
  }

  /** Summaries that are due go out; errors quiet for a whole wait are forgotten. */
  tick(): void {
    const now = this.clock.now();
    for (const [key, s] of this.seen) {
      if (this.waiting(s, now)) continue;
      if (s.repeats === 0) this.seen.delete(key);
      else this.summarize(s, now);
    }
    for (const [level, o] of this.overflow) {
      if (this.waiting(o, now)) continue;
      if (o.repeats === 0) this.overflow.delete(level);
      else this.summarizeOverflow(level, o, now);
    }
    if (this.seen.size === 0 && this.overflow.size === 0 && this.ticker !== undefined) {
      this.clock.clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Its wait is not up yet. */
  private waiting(c: Counted, now: number): boolean {
    return now - c.since < c.wait;
  }

  /** A new error with the table full: counted in its level's bucket. The
   * first one that opens a bucket starts its wait; none is logged in full. */
  private countTogether(level: LogLevel, id: number | null, head: string, now: number): void {
    let o = this.overflow.get(level);
    if (!o) {
      o = { ids: new Set(), more: false, first: head, repeats: 0, since: now, wait: this.limits.firstSummaryMs };
      this.overflow.set(level, o);
    }
    if (o.repeats === 0) o.first = head;
    o.repeats++;
    if (o.ids.size < this.limits.maxOverflowIds) o.ids.add(id);
    else if (!o.ids.has(id)) o.more = true;
  }

  private summarize(s: Seen, now: number): void {
    const times = s.varied ? "times (numbers varying)" : "times";
    this.emit(s.level, s.id, `${s.head} ... repeated ${s.repeats} ${times} in the last ${secs(now - s.since)} s`);
    s.repeats = 0;
    s.varied = false;
    s.since = now;
    s.wait = Math.min(s.wait * 2, this.limits.maxSummaryMs);
  }

  private summarizeOverflow(level: LogLevel, o: Overflow, now: number): void {
    const conns = `${o.more ? "at least " : ""}${o.ids.size} connection${o.ids.size === 1 ? "" : "s"}`;
    const kind = level === "error" ? "errors" : "warnings";
    this.emit(
      level,
      null,
      `... and ${o.repeats} more ${kind} from ${conns} in the last ${secs(now - o.since)} s ` +
        `(not logged one by one: ${this.limits.maxKeys} are tracked already), the first: ${o.first}`,
    );
    o.repeats = 0;
    o.ids.clear();
    o.more = false;
    o.since = now;
    o.wait = Math.min(o.wait * 2, this.limits.maxSummaryMs);
  }
}

function secs(ms: number): number {
  return Math.max(1, Math.round(ms / 1000));
}
