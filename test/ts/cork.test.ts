// The writes of a serving slice, corked (ts/cork.ts): held by the stream
// transport while the slice runs, out in one writev per connection at its
// end, before the slice's answers; bounded; what the kernel leaves waits in
// the transport, which arms WRITE for it; a close or a shutdown never loses
// what was held. The port's side (a slice's reads, then its writes, then
// its answers): port.test.ts.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { WriteCork } from "../../ts/cork";
import { Slab, StreamTransport } from "../../ts/fd-transport";
import { CORK_MAX, CORK_MAX_PER_FD } from "../../ts/limits";
import type { Upstream } from "../../ts/transport";
import { Action, Protocol } from "../../ts/index";
import { ProtocolTable } from "../../ts/protocol-table";
import { Reactor } from "../../ts/reactor";
import { RecordingSink } from "./recording-sink";
import { FD, ID, Wire, makeCert, until } from "./tls-wire";
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

// The engine over held bytes: a reset while an uncork's rest waits, and
// STARTTLS's answer in clear when the kernel takes part of it.
const epipe = () => Object.assign(new Error("EPIPE: broken pipe"), { code: "EPIPE", errno: -32, syscall: "write" });
const reset = () => Object.assign(new Error("ECONNRESET: connection reset by peer"), { code: "ECONNRESET", errno: -104, syscall: "read" });

class Replier extends Protocol {
  lost: (Error | undefined)[] = [];
  dataReceived(d: Buffer): Action {
    this.write(Buffer.from("reply:" + d.toString()));
    return "read_pending";
  }
  connectionLost(reason?: Error): void {
    this.lost.push(reason);
  }
}

describe("the engine, corked", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reactor-cork-"));
  const reactors: Reactor[] = [];
  afterEach(() =>
    reactors.splice(0).forEach((r) => {
      r.closeAll(new Error("test over"));
      r.dispose();
    }),
  );
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A Replier on fd 10, id 1; its first event has left 6 of "reply:hi" waiting (the peer took 2). */
  function shortUncork(spec?: object) {
    const io = new MemoryFds();
    const sink = new RecordingSink();
    const protocols = new ProtocolTable();
    protocols.setProtocolFactory(Replier);
    const r = new Reactor(io, sink, protocols, { readSize: 1024 });
    reactors.push(r);
    if (spec) expect(r.addTlsConfig(7, makeCert(dir))).toBeUndefined();
    r.handoff(1, 10, { type: "tcp", addr: "127.0.0.1", port: 5 }, spec as never);
    io.fd(10).room = 2;
    io.feed(10, "hi");
    r.cork.run(() => r.readReady(1));
    expect(io.written(10)).toBe("re");
    return { io, sink, r, proto: protocols.getProtocol(10) as Replier };
  }

  it("ends the connection, and only it, when the peer resets before the rest is written", () => {
    const { io, sink, r, proto } = shortUncork();
    io.fd(10).room = undefined;
    io.fd(10).failNext.writev.push(epipe());
    expect(() => r.cork.run(() => r.writeReady(1))).not.toThrow();
    expect(proto.lost.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(["EPIPE"]);
    expect(sink.acts.at(-1)).toEqual([1, "close"]);
    expect(io.closed).toEqual([10]);
  });

  it("settles on its next tick without throwing when the rest meets a reset", async () => {
    const { io, proto } = shortUncork();
    io.fd(10).failNext.writev.push(epipe());
    await new Promise(setImmediate); // the connection settles: flush, then arm
    expect(proto.lost.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(["EPIPE"]);
    expect(io.closed).toEqual([10]);
  });

  it("releases a STARTTLS connection that resets while the rest waits: fd closed, Erlang told", () => {
    const { io, sink, r, proto } = shortUncork({ proxy: false, tls: false, starttls: 7 });
    io.feed(10, reset());
    io.fd(10).failNext.writev.push(epipe());
    expect(() => r.cork.run(() => r.readReady(1))).not.toThrow();
    expect(proto.lost.length).toBe(1);
    expect(io.closed).toEqual([10]);
    expect(sink.acts.at(-1)).toEqual([1, "close"]);
    expect(r.size).toBe(0);
  });

  it("writes the rest of a STARTTLS answer the kernel took part of before the handshake", async () => {
    class Smtp extends Protocol {
      dataReceived(d: Buffer): Action {
        if (d.toString() === "STARTTLS\r\n") {
          this.write("220 go ahead\r\n");
          this.startTls().catch(() => {});
        }
        return "read_pending";
      }
    }
    const wire = new Wire(); // serves each event corked, as the port does
    const protocols = new ProtocolTable();
    protocols.setProtocolFactory(Smtp);
    const r = new Reactor(wire, wire.sink, protocols);
    reactors.push(r);
    wire.reactor = r;
    expect(r.addTlsConfig(7, makeCert(dir))).toBeUndefined();
    r.handoff(ID, FD, { type: "tcp", addr: "10.0.0.2", port: 2525 }, { proxy: false, tls: false, starttls: 7 });
    wire.fd(FD).room = 5;
    wire.feed(FD, "STARTTLS\r\n");
    wire.poll();
    await until(() => wire.written(FD) === "220 g", "the part the kernel took");
    await until(() => wire.armed === "write_pending", "WRITE armed for the rest");
    wire.fd(FD).room = undefined;
    wire.poll();
    await until(() => wire.written(FD) === "220 go ahead\r\n", "the rest, before any handshake byte");
  });
});
