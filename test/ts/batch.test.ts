// The batch layout on Node's side: ready batches in, action batches out
// (the NIF's side: test/erlang/reactor_poller_tests.erl; both: golden.test.ts).
import { ACK, ACTION_CODES, ActionBatch, BatchError, MAX_ACTIONS_PER_BATCH, MAX_READY_PER_BATCH, READY_WRITE_BIT, ReadyQueue, readyBuffer, serveSlice } from "../../ts/batch";

function ready(words: number[]): { buf: Uint8Array; size: number } {
  const buf = readyBuffer();
  new Uint32Array(buf.buffer).set(words);
  return { buf, size: words.length * 4 };
}

function drain(q: ReadyQueue): [number, boolean][] {
  const seen: [number, boolean][] = [];
  while (!q.empty) {
    const w = q.shift();
    seen.push([(w & ~READY_WRITE_BIT) >>> 0, w >= READY_WRITE_BIT]);
  }
  return seen;
}

function collect(buf: Uint8Array, size: number): [number, boolean][] {
  const q = new ReadyQueue();
  q.push(buf, size);
  return drain(q);
}

describe("ready batches", () => {
  it("name each connection and what it was armed for", () => {
    const { buf, size } = ready([7, 8 | READY_WRITE_BIT, 0x7fffffff, 0x7fffffff | READY_WRITE_BIT]);
    expect(collect(buf, size)).toEqual([
      [7, false],
      [8, true],
      [0x7fffffff, false],
      [0x7fffffff, true],
    ]);
  });

  it("refuse what Erlang never sends, with a clear error", () => {
    const { buf } = ready([1, 2]);
    for (const size of [0, 3, 6, -4, (MAX_READY_PER_BATCH + 1) * 4]) {
      expect(() => collect(buf, size)).toThrow(BatchError);
    }
    const zero = ready([5, 0]);
    expect(() => collect(zero.buf, zero.size)).toThrow(/connection id 0/);
    const writeZero = ready([READY_WRITE_BIT]);
    expect(() => collect(writeZero.buf, writeZero.size)).toThrow(BatchError);
  });

  it("queue batches in order, taken one connection at a time, past their first room", () => {
    const q = new ReadyQueue();
    const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
    const first = ready(ids(1, MAX_READY_PER_BATCH));
    q.push(first.buf, first.size);
    expect(q.shift()).toBe(1);
    for (let b = 1; b < 6; b++) {
      const more = ready(ids(1 + b * MAX_READY_PER_BATCH, MAX_READY_PER_BATCH));
      q.push(more.buf, more.size);
    }
    expect(drain(q).map(([id]) => id)).toEqual(ids(2, 6 * MAX_READY_PER_BATCH - 1));
    expect(q.empty).toBe(true);
  });

  it("leave the queue as it was when a batch is refused", () => {
    const q = new ReadyQueue();
    const ok = ready([3, 4 | READY_WRITE_BIT]);
    q.push(ok.buf, ok.size);
    const bad = ready([9, 0]);
    expect(() => q.push(bad.buf, bad.size)).toThrow(BatchError);
    expect(drain(q)).toEqual([
      [3, false],
      [4, true],
    ]);
  });

  // `make fuzz` sets FUZZ_CASES much higher.
  const cases = Number(process.env.FUZZ_CASES ?? 5000);
  it(`survive ${cases} seeded random batches: ids in range or a BatchError`, () => {
    let seed = 4242;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const buf = readyBuffer();
    let refused = 0;
    for (let i = 0; i < cases; i++) {
      const size = Math.floor(rnd() * 64);
      for (let k = 0; k < size; k++) buf[k] = Math.floor(rnd() * 256);
      try {
        for (const [id] of collect(buf, size)) expect(id >= 1 && id <= 0x7fffffff).toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(BatchError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(cases / 2); // most sizes are not whole entries
    expect(refused).toBeLessThan(cases);
  });
});

describe("action batches", () => {
  const entries = (p: Uint8Array) => Array.from(new Uint32Array(p.buffer, p.byteOffset, p.length / 4));

  it("encode (id, code) pairs, acks marked", () => {
    const b = new ActionBatch();
    expect(b.empty).toBe(true);
    b.push(5, "read_pending", true);
    b.push(6, "close");
    expect(b.empty).toBe(false);
    const [p] = b.take();
    expect(entries(p)).toEqual([5, ACTION_CODES.read_pending + ACK, 6, ACTION_CODES.close]);
    expect(b.empty).toBe(true);
    expect(b.take()).toEqual([]);
  });

  it(`seal every ${MAX_ACTIONS_PER_BATCH} answers into a packet of their own, in order`, () => {
    const b = new ActionBatch();
    const n = 2 * MAX_ACTIONS_PER_BATCH + 3;
    for (let id = 1; id <= n; id++) b.push(id, "write_pending");
    const packets = b.take();
    expect(packets.map((p) => p.length / 8)).toEqual([MAX_ACTIONS_PER_BATCH, MAX_ACTIONS_PER_BATCH, 3]);
    const ids = packets.flatMap((p) => entries(p).filter((_, i) => i % 2 === 0));
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // sealed packets are copies: pushing more does not change them
    b.push(99, "close");
    expect(entries(packets[0])[0]).toBe(1);
  });
});

describe("serveSlice", () => {
  function queueOf(...ids: number[]): ReadyQueue {
    const q = new ReadyQueue();
    const { buf, size } = ready(ids);
    q.push(buf, size);
    return q;
  }

  it("serves until the slice has taken its time, then says more waits", () => {
    let clock = 0;
    const seen: number[] = [];
    const q = queueOf(1, 2, 3, 4, 5, 6, 7, 8);
    const serve = (id: number) => {
      seen.push(id);
      clock += id <= 3 ? 0.01 : 0.15; // three cheap connections, then costly ones
    };
    const slices: number[][] = [];
    for (let more = true; more; ) {
      const before = seen.length;
      more = serveSlice(q, serve, () => clock, 0.2);
      slices.push(seen.slice(before));
    }
    // 0.03 ms for 1-3, then 0.15 each: past 0.2 after 5; then 6 and 7; then 8
    expect(slices).toEqual([[1, 2, 3, 4, 5], [6, 7], [8]]);
  });

  it("serves a batch of cheap events in one slice", () => {
    let clock = 0;
    const seen: [number, boolean][] = [];
    const q = queueOf(1, 2 | READY_WRITE_BIT, 3);
    expect(serveSlice(q, (id, write) => (seen.push([id, write]), (clock += 0.001)), () => clock, 0.2)).toBe(false);
    expect(seen).toEqual([
      [1, false],
      [2, true],
      [3, false],
    ]);
    expect(q.empty).toBe(true);
  });
});
