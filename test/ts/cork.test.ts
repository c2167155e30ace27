// The writes of a serving slice, corked (ts/cork.ts): held by the stream
// transport while the slice runs, out in one writev per connection at its
// end, before the slice's answers; bounded; what the kernel leaves waits in
// the transport, which arms WRITE for it; a close or a shutdown never loses
// what was held. The port's side (a slice's reads, then its writes, then
// its answers): port.test.ts.
import { WriteCork } from "../../ts/cork";
import { Slab, StreamTransport } from "../../ts/fd-transport";
import { CORK_MAX, CORK_MAX_PER_FD } from "../../ts/limits";
import type { Upstream } from "../../ts/transport";
import { MemoryFds } from "./memory-fds";

/** The layer above: counts wakes, keeps errors. */
class Above implements Upstream {
  wakes = 0;
  errors: string[] = [];
  data(): void {}
  end(): void {}
  open(): void {}
  error(e: Error): void {
    this.errors.push((e as NodeJS.ErrnoException).code ?? e.message);
  }
  wake(): void {
    this.wakes++;
  }
  wantsMore(): boolean {
    return true;
  }
}

/** Every write the fds were asked for, as "fd:bytes,bytes" (MemoryFds's
 * write is a writev of one buffer). */
function spy(io: MemoryFds): string[] {
  const calls: string[] = [];
  const writev = io.writev.bind(io);
  io.writev = (fd, bufs) => {
    calls.push(`${fd}:${bufs.map((b) => Buffer.from(b).toString()).join(",")}`);
    return writev(fd, bufs);
  };
  return calls;
}

function setup() {
  const io = new MemoryFds();
  const cork = new WriteCork();
  const traffic = { bytesIn: 0, bytesOut: 0 };
  const slab = new Slab();
  const make = (fd: number) => {
    const t = new StreamTransport(io, fd, slab, traffic, 4096, true, cork);
    const up = new Above();
    t.up = up;
    return { t, up };
  };
  return { io, cork, traffic, make, calls: spy(io) };
}

describe("WriteCork", () => {
  it("holds a slice's writes and sends each connection's in one write when it ends, in the order written", () => {
    const { io, cork, traffic, make, calls } = setup();
    const a = make(3);
    const b = make(4);
    cork.run(() => {
      expect(a.t.writev([Buffer.from("one")])).toBe(3);
      expect(b.t.writev([Buffer.from("two")])).toBe(3);
      expect(a.t.writev([Buffer.from("thr"), Buffer.from("ee")])).toBe(5);
      expect(calls).toEqual([]);
      // taken: counted, not unsent, nothing to arm for
      expect(traffic.bytesOut).toBe(11);
      expect(a.t.unsent).toBe(0);
      expect(a.t.interest("read_pending")).toBe("read_pending");
    });
    expect(calls).toEqual(["3:onethree", "4:two"]);
    expect(io.written(3)).toBe("onethree");
    expect(traffic.bytesOut).toBe(11);
  });

  it("writes at once outside a slice", () => {
    const { cork, make, calls } = setup();
    const a = make(3);
    expect(a.t.writev([Buffer.from("now")])).toBe(3);
    expect(calls).toEqual(["3:now"]);
    cork.run(() => {});
    expect(calls).toEqual(["3:now"]);
  });

  it("holds a copy: the caller may reuse its buffer once the write counts as done", () => {
    const { io, cork, make } = setup();
    const a = make(3);
    const buf = Buffer.from("abc");
    cork.run(() => {
      a.t.writev([buf]);
      buf.write("xyz");
    });
    expect(io.written(3)).toBe("abc");
  });

  it("sends a write past a connection's bound at once, after what it holds", () => {
    const { io, cork, make, calls } = setup();
    const a = make(3);
    const big = Buffer.alloc(CORK_MAX_PER_FD, "b");
    cork.run(() => {
      a.t.writev([Buffer.from("small")]);
      expect(a.t.writev([big])).toBe(big.length);
      expect(calls.length).toBe(2);
      a.t.writev([Buffer.from("after")]); // held again
      expect(calls.length).toBe(2);
    });
    expect(calls.length).toBe(3);
    expect(io.written(3)).toBe("small" + big.toString() + "after");
  });

  it("admits no more than CORK_MAX in all, nor CORK_MAX_PER_FD from one connection", () => {
    const cork = new WriteCork();
    const t = { uncork: jest.fn() };
    expect(cork.admits(0, 1)).toBe(false); // not corked
    cork.run(() => {
      expect(cork.admits(0, CORK_MAX_PER_FD)).toBe(true);
      expect(cork.admits(1, CORK_MAX_PER_FD)).toBe(false);
      for (let held = 0; held + CORK_MAX_PER_FD <= CORK_MAX; held += CORK_MAX_PER_FD) cork.hold(t, CORK_MAX_PER_FD, held === 0);
      expect(cork.admits(0, 1)).toBe(false);
    });
    expect(t.uncork).toHaveBeenCalledTimes(1);
    cork.run(() => expect(cork.admits(0, CORK_MAX_PER_FD)).toBe(true)); // the count starts again
  });

  it("keeps what the kernel does not take at the uncork, arms WRITE for it, and writes it first", () => {
    const { io, cork, make } = setup();
    const a = make(3);
    io.fd(3).room = 2;
    cork.run(() => a.t.writev([Buffer.from("hello")]));
    expect(io.written(3)).toBe("he");
    expect(a.t.unsent).toBe(3);
    expect(a.t.interest("read_pending")).toBe("write_pending");
    expect(a.up.wakes).toBe(1);
    // nothing is taken while it waits and the kernel takes none of it
    expect(a.t.writev([Buffer.from("!")])).toBe(0);
    expect(a.t.flush()).toBe(false);
    io.fd(3).room = undefined;
    expect(a.t.writev([Buffer.from("!")])).toBe(1);
    expect(io.written(3)).toBe("hello!");
    expect(a.t.unsent).toBe(0);
    expect(a.t.interest("read_pending")).toBe("read_pending");
  });

  it("sends the FIN after what an uncork left, never before", () => {
    const { io, cork, make } = setup();
    const a = make(3);
    io.fd(3).room = 1;
    cork.run(() => {
      a.t.writev([Buffer.from("bye")]);
      a.t.shutdownWrite(); // uncorks: the kernel takes one byte
    });
    expect(io.written(3)).toBe("b");
    expect(io.shutdowns).toEqual([]);
    expect(a.t.writableFinished).toBe(false);
    io.fd(3).room = undefined;
    expect(a.t.flush()).toBe(true);
    expect(io.written(3)).toBe("bye");
    expect(io.shutdowns).toEqual([[3, 1]]);
    expect(a.t.writableFinished).toBe(true);
  });

  it("writes what is held before a close", () => {
    const { io, cork, make } = setup();
    const a = make(3);
    cork.run(() => {
      a.t.writev([Buffer.from("last words")]);
      a.t.close();
      expect(io.written(3)).toBe("last words");
      expect(io.closed).toEqual([3]);
    });
    expect(io.written(3)).toBe("last words"); // once
  });

  it("reports a broken fd at the uncork to the layer above, and the slice ends", () => {
    const { io, cork, make } = setup();
    const a = make(3);
    const b = make(4);
    io.fd(3).failNext.writev.push(Object.assign(new Error("EPIPE: broken pipe"), { code: "EPIPE", errno: -32, syscall: "writev" }));
    expect(() =>
      cork.run(() => {
        a.t.writev([Buffer.from("lost")]);
        b.t.writev([Buffer.from("kept")]);
      }),
    ).not.toThrow();
    expect(a.up.errors).toEqual(["EPIPE"]);
    expect(io.written(4)).toBe("kept");
  });
});
