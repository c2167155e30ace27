// make bench's bridge protocol (bench_bridge.erl runs it in one context):
//   echo(x)                    reactor_context:call's work: returns its argument
//   beamLoop(loops, seconds)   LOOPS async loops call beam.call("bench.echo", x)
//                              for SECONDS; returns [calls, seconds measured, p50 µs, p99 µs]
//   drained()                  resolves once no member holds HIGH_WATER bytes or more
// A connection that sends a byte (loadgen sink's subscribe) joins the group
// "bench" and writes every message it gets (a binary) to its peer: the publish
// scenario's members.
import { Action, Protocol, Term, beam } from "erlang-reactor";

/** Node's net.Socket highWaterMark: a member this far behind is waited for,
 * as bench/node_fanout.mjs waits for a socket's 'drain'. */
const HIGH_WATER = 16384;
const behind = new Set<Member>();
let waiters: Array<() => void> = [];

export default class Member extends Protocol {
  dataReceived(): Action {
    this.join("bench"); // the first byte subscribes; joining again is joining once
    return "read_pending";
  }

  messageReceived(term: Term): Action {
    if (this.write(term as Buffer)) return "continue";
    if (this.writeBuffer.length >= HIGH_WATER) behind.add(this);
    return "write_pending";
  }

  writeReady(): Action | Promise<Action> {
    const next = super.writeReady();
    if (this.writeBuffer.length < HIGH_WATER) caughtUp(this);
    return next;
  }

  connectionLost(): void {
    caughtUp(this);
  }
}

function caughtUp(m: Member): void {
  if (behind.delete(m) && behind.size === 0) {
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  }
}

export function echo(x: Term): Term {
  return x;
}

export function drained(): true | Promise<true> {
  return behind.size === 0 ? true : new Promise((resolve) => waiters.push(() => resolve(true)));
}

export async function beamLoop(loops: number, seconds: number): Promise<number[]> {
  const term = [1, Buffer.from("abc"), new Map([[Buffer.from("k"), 2]])];
  const start = performance.now();
  const warm = start + seconds * 100; // the first 10% is warm-up, as loadgen's
  const end = warm + seconds * 1000;
  const lat: number[] = [];
  const loop = async (): Promise<void> => {
    for (let t = performance.now(); t < end; ) {
      await beam.call("bench.echo", term);
      const now = performance.now();
      if (t >= warm) lat.push(now - t);
      t = now;
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
  lat.sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? Math.round(lat[Math.floor((lat.length * p) / 100)] * 1000) : 0);
  return [lat.length, (performance.now() - warm) / 1000, pct(50), pct(99)];
}
