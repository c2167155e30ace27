// Found while trying issue 18 item 9 (branch s18-try): past 1,024 departed
// connections the limiter's table is full at every new error, each full
// table is written out and emptied, and every error is then "new": the
// flood comes back at nearly its full rate, each line with its stack. End
// to end (1,100 departed connections, 3 s): 43,315 lines and a context too
// busy to answer reactor_context:info/1 within 10 s; 1,000 gave 3,024.
import { ManualClock } from "../../ts/clock";
import { LogLimiter, LOG_LIMITS } from "../../ts/log-limit";

const ERR = "uncaught exception: Error: connection is closed\n    at Protocol.handle (protocol.ts:1)";

it("keeps the same error of each of 1,100 departed connections to a few lines", () => {
  const clock = new ManualClock();
  let lines = 0;
  const limiter = new LogLimiter(() => lines++, clock, LOG_LIMITS);
  const conns = 1100;
  // 3 s of each connection's timer throwing every 50 ms
  for (let step = 0; step < 60; step++) {
    for (let id = 1; id <= conns; id++) limiter.log("error", id, ERR);
    clock.advance(50);
  }
  // once in full, then counted after 1 s and 2 s more: 3 lines each at most
  // (unbounded, it is 60 each: 66,000)
  expect(lines).toBeLessThanOrEqual(conns * 3);
});
