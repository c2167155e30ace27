// Issue 18 item 9: a departed connection's timer that throws 20 times a second
// is logged once, then counted, at a rate that backs off; the table is bounded.
// End to end: reactor_faults_replayed_SUITE:departed_timer_logged_once.
import { ManualClock } from "../../ts/clock";
import { LogLimiter } from "../../ts/log-limit";
import type { LogLevel } from "../../ts/types";

function setup(maxKeys = 1024) {
  const clock = new ManualClock();
  const lines: [LogLevel, number | null, string][] = [];
  const limiter = new LogLimiter((l, id, t) => lines.push([l, id, t]), clock, {
    firstSummaryMs: 1000,
    maxSummaryMs: 60_000,
    maxKeys,
    tickMs: 250,
  });
  return { clock, lines, limiter };
}

const ERR = "uncaught exception: Error: connection is closed\n    at Protocol.handle (protocol.ts:1)\n    at Timeout._onTimeout";

/** `n` seconds of an error every 50 ms from connection `id`. */
function flood(s: ReturnType<typeof setup>, id: number, secs: number): void {
  for (let i = 0; i < secs * 20; i++) {
    s.limiter.log("error", id, ERR);
    s.clock.advance(50);
  }
}

describe("LogLimiter", () => {
  it("logs a repeated error once in full, then counts it, backing off 1, 2, 4 s ...", () => {
    const s = setup();
    flood(s, 5, 7.5);
    expect(s.lines[0]).toEqual(["error", 5, ERR]);
    const summaries = s.lines.slice(1).map((l) => l[2]);
    expect(summaries).toEqual([
      "uncaught exception: Error: connection is closed ... repeated 19 times in the last 1 s",
      "uncaught exception: Error: connection is closed ... repeated 40 times in the last 2 s",
      "uncaught exception: Error: connection is closed ... repeated 80 times in the last 4 s",
    ]);
    expect(s.lines.every((l) => l[0] === "error" && l[1] === 5)).toBe(true);
    // the flood stops: the last 10 are counted when their wait (8 s) is up,
    // and a whole quiet wait later the error is forgotten
    s.clock.advance(8000);
    expect(s.lines.at(-1)?.[2]).toBe("uncaught exception: Error: connection is closed ... repeated 10 times in the last 8 s");
    expect(s.lines).toHaveLength(5); // 150 errors: 1 line + 4 counts (19 + 40 + 80 + 10)
    expect(s.limiter.tracked).toBe(1);
    s.clock.advance(16_000);
    expect(s.limiter.tracked).toBe(0);
  });

  it("keeps each connection's error apart, and other errors of the same connection", () => {
    const s = setup();
    for (let i = 0; i < 10; i++) {
      s.limiter.log("error", 1, ERR);
      s.limiter.log("error", 2, ERR);
      s.limiter.log("error", 1, "uncaught exception: Error: something else");
    }
    expect(s.lines.map((l) => [l[1], l[2].split("\n")[0]])).toEqual([
      [1, "uncaught exception: Error: connection is closed"],
      [2, "uncaught exception: Error: connection is closed"],
      [1, "uncaught exception: Error: something else"],
    ]);
    s.clock.advance(1000);
    expect(s.lines.slice(3).map((l) => [l[1], l[2]])).toEqual([
      [1, "uncaught exception: Error: connection is closed ... repeated 9 times in the last 1 s"],
      [2, "uncaught exception: Error: connection is closed ... repeated 9 times in the last 1 s"],
      [1, "uncaught exception: Error: something else ... repeated 9 times in the last 1 s"],
    ]);
  });

  it("forgets an error once it is quiet for a whole wait: the next one is logged in full", () => {
    const s = setup();
    s.limiter.log("warning", 3, "a datagram to 127.0.0.1:9 failed: sendto EMSGSIZE");
    s.clock.advance(1000);
    expect(s.limiter.tracked).toBe(0);
    s.limiter.log("warning", 3, "a datagram to 127.0.0.1:9 failed: sendto EMSGSIZE");
    expect(s.lines.map((l) => l[2])).toEqual([
      "a datagram to 127.0.0.1:9 failed: sendto EMSGSIZE",
      "a datagram to 127.0.0.1:9 failed: sendto EMSGSIZE",
    ]);
  });

  it("passes other levels untouched", () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.limiter.log("notice", 1, "served GET /");
    expect(s.lines).toHaveLength(5);
    expect(s.limiter.tracked).toBe(0);
  });

  it("never holds more than maxKeys errors: a full table is summarized and emptied", () => {
    const s = setup(100);
    let most = 0;
    for (let id = 0; id < 10_000; id++) {
      s.limiter.log("error", id, ERR);
      s.limiter.log("error", id, ERR);
      most = Math.max(most, s.limiter.tracked);
    }
    expect(most).toBe(100);
    // each connection's first line, and the count of the one repeat, for
    // every connection flushed with a full table (the last 100 still wait)
    const full = s.lines.filter((l) => l[2] === ERR).length;
    const counted = s.lines.filter((l) => l[2].endsWith("repeated 1 times in the last 1 s")).length;
    expect(full).toBe(10_000);
    expect(counted).toBe(9_900);
    s.clock.advance(1000);
    expect(s.lines.filter((l) => l[2].endsWith("repeated 1 times in the last 1 s")).length).toBe(10_000);
  });
});
