import { Action, ClientInfo, Protocol, ReactorError } from "../../ts/index";
import { Reactor, ReactorOptions } from "../../ts/reactor";
import { ProtocolClass, ProtocolFactory, ProtocolTable } from "../../ts/protocol-table";
import { Server } from "net";
import { MemoryFds } from "./memory-fds";
import { RecordingSink } from "./recording-sink";

const flush = () => new Promise((r) => setImmediate(r));

class Echo extends Protocol {
  lost: (Error | undefined)[] = [];
  dataReceived(data: Buffer): Action {
    this.writeBuffer.push(data);
    return "write_pending";
  }
  connectionLost(reason?: Error): void {
    this.lost.push(reason);
  }
}

// Each reactor has its own protocol table; these act on the latest one's.
let protocols = new ProtocolTable();
const setProtocolFactory = (f: ProtocolClass | ProtocolFactory) => protocols.setProtocolFactory(f);
const getProtocol = (fd: number) => protocols.getProtocol(fd);
const currentConnection = () => protocols.currentConnection();

function setup(P: new () => Protocol = Echo, opts: ReactorOptions = {}) {
  const io = new MemoryFds();
  const sink = new RecordingSink();
  protocols = new ProtocolTable();
  setProtocolFactory(P);
  const r = new Reactor(io, sink, protocols, { readSize: 1024, ...opts });
  reactors.push(r);
  return { io, sink, r };
}

const reactors: Reactor[] = [];
afterEach(() => reactors.splice(0).forEach((r) => r.dispose()));
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe("Reactor", () => {
  it("runs the lifecycle: handoff, data, write, EOF, connectionLost once", () => {
    const { io, sink, r } = setup();
    r.handoff(1, 10, { type: "tcp", addr: "127.0.0.1", port: 5 });
    expect(sink.acks).toEqual([[1, "read_pending"]]);
    const p = getProtocol(10) as Echo;
    expect(p).toBeInstanceOf(Echo);
    expect(p.clientInfo.addr).toBe("127.0.0.1");

    io.feed(10, "hello");
    r.readReady(1);
    // write_pending runs writeReady at once: all written, back to reading
    expect(io.written(10)).toBe("hello");
    expect(sink.acts).toEqual([[1, "read_pending"]]);
    r.writeReady(1); // a WRITE event anyway: nothing queued, back to reading
    expect(sink.acts[1]).toEqual([1, "read_pending"]);

    io.feed(10, "eof");
    r.readReady(1);
    expect(sink.acts[2]).toEqual([1, "close"]);
    expect(io.shutdowns.map(([fd]) => fd)).toEqual([10]);
    expect(io.closed).toEqual([10]);
    expect(p.lost).toEqual([undefined]);
    expect(p.closed).toBe(true);
    expect(getProtocol(10)).toBeUndefined();

    r.readReady(1); // a stale event for a closed connection is ignored
    r.closeFromErlang(1, "late");
    expect(p.lost).toHaveLength(1);
    expect(r.size).toBe(0);
  });

  it("hands out views, not copies, that stay valid after later reads", () => {
    const seen: Buffer[] = [];
    class Keep extends Protocol {
      dataReceived(d: Buffer): Action {
        seen.push(d);
        return "continue";
      }
    }
    const { io, sink, r } = setup(Keep);
    r.handoff(1, 3, {});
    for (let i = 0; i < 600; i++) {
      io.feed(3, Buffer.alloc(1000, i % 256));
      r.readReady(1);
    }
    expect(seen).toHaveLength(600);
    seen.forEach((d, i) => expect(d.every((b) => b === i % 256)).toBe(true));
    expect(seen[1].buffer).toBe(seen[0].buffer); // same slab: zero-copy views
    expect(sink.acts.every(([, a]) => a === "read_pending")).toBe(true);
  });

  // The poller arms a drained fd without polling it again (REACTOR_ACTION_DRAINED):
  // only a READ event whose last read took all there was may say so.
  it("says an fd is drained only when its last read took all the kernel held", () => {
    class Keep extends Protocol {
      dataReceived(): Action {
        return "continue";
      }
    }
    const { io, sink, r } = setup(Keep);
    r.handoff(1, 3, {});
    io.feed(3, "short");
    r.readReady(1); // one short read
    io.feed(3, ...Array.from({ length: 5 }, () => Buffer.alloc(1024))); // readSize: 1024
    r.readReady(1); // four full reads, then the event ends: bytes may be left
    r.readReady(1); // the fifth, then EAGAIN
    r.readReady(1); // EAGAIN at once (a spurious edge)
    io.feed(3, "eof");
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "read_pending"], [1, "read_pending"], [1, "read_pending"], [1, "read_pending"], [1, "close"]]);
    expect(sink.drained).toEqual([true, false, true, true, false]);
  });

  it("never says drained after a READ event that read nothing (paused reading)", () => {
    let proto: Protocol | undefined;
    class Pausing extends Protocol {
      connectionMade(): void {
        proto = this;
      }
      dataReceived(): Action {
        this.pauseReading();
        return "continue";
      }
    }
    const { io, sink, r } = setup(Pausing);
    r.handoff(1, 3, {});
    io.feed(3, "a");
    r.readReady(1); // drained, and reading paused: nothing armed
    io.feed(3, "b");
    r.readReady(1); // an edge armed before the pause: nothing is read
    proto!.resumeReading();
    expect(sink.acts.at(-1)).toEqual([1, "read_pending"]);
    expect(sink.drained.at(-1)).toBe(false); // "b" is unread: Erlang must poll afresh
  });

  it("re-arms quietly on a spurious wakeup (EAGAIN)", () => {
    const { sink, r } = setup();
    r.handoff(1, 3, {});
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "read_pending"]]);
  });

  it("continue re-arms the event that was handled", () => {
    class P extends Protocol {
      dataReceived(): Action {
        return "continue";
      }
      writeReady(): Action {
        return "continue";
      }
    }
    const { io, sink, r } = setup(P);
    r.handoff(1, 3, {});
    io.feed(3, "x");
    r.readReady(1);
    r.writeReady(1);
    expect(sink.acts).toEqual([
      [1, "read_pending"],
      [1, "write_pending"],
    ]);
  });

  it("partial writes keep the rest queued and ask to write again", () => {
    const { io, sink, r } = setup();
    io.fd(3).room = 3;
    r.handoff(1, 3, {});
    io.feed(3, "abcdefgh");
    r.readReady(1);
    r.writeReady(1);
    expect(sink.acts.at(-1)).toEqual([1, "write_pending"]);
    io.fd(3).room = undefined;
    r.writeReady(1);
    expect(io.written(3)).toBe("abcdefgh");
    expect(sink.acts.at(-1)).toEqual([1, "read_pending"]);
  });

  it("an invalid action closes only that connection, with a clear error", () => {
    class Bad extends Protocol {
      lost?: Error;
      dataReceived(d: Buffer): Action {
        return (d.toString() === "bad" ? "explode" : "continue") as Action;
      }
      connectionLost(e?: Error) {
        this.lost = e;
      }
    }
    const { io, sink, r } = setup(Bad);
    r.handoff(1, 3, {});
    r.handoff(2, 4, {});
    const p = getProtocol(3) as Bad;
    io.feed(3, "bad");
    io.feed(4, "ok");
    r.readReady(1);
    r.readReady(2);
    expect(sink.acts).toEqual([
      [1, "close"],
      [2, "read_pending"],
    ]);
    expect(p.lost).toBeInstanceOf(ReactorError);
    expect((p.lost as ReactorError).code).toBe("EINVALIDACTION");
    expect(sink.logs[0][0]).toBe("error");
    expect(sink.logs[0][2]).toMatch(/dataReceived returned "explode"/);
    expect(r.size).toBe(1);
  });

  it("a non-string return is invalid too", () => {
    class Bad extends Protocol {
      dataReceived(): Action {
        return 42 as unknown as Action;
      }
    }
    const { io, sink, r } = setup(Bad);
    r.handoff(1, 3, {});
    io.feed(3, "x");
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "close"]]);
    expect(sink.logs[0][2]).toMatch(/returned 42/);
  });

  it("a throwing handler ends its connection with the stack logged", () => {
    class Throws extends Protocol {
      lost?: Error;
      dataReceived(): Action {
        throw new Error("boom in handler");
      }
      connectionLost(e?: Error) {
        this.lost = e;
      }
    }
    const { io, sink, r } = setup(Throws);
    r.handoff(1, 3, {});
    io.feed(3, "x");
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "close"]]);
    expect(sink.logs[0][2]).toMatch(/dataReceived failed: Error: boom in handler\n\s+at /);
    expect(getProtocol(3)).toBeUndefined(); // gone from the protocol table
    expect(r.stats().errors).toBe(1);
  });

  it("a Promise pauses the connection until it settles", async () => {
    let release!: (a: Action) => void;
    class Slow extends Protocol {
      dataReceived(d: Buffer): Promise<Action> {
        return new Promise((res) => {
          release = (a) => {
            this.writeBuffer.push(d);
            res(a);
          };
        });
      }
    }
    const { io, sink, r } = setup(Slow);
    r.handoff(1, 3, {});
    io.feed(3, "later");
    r.readReady(1);
    await flush();
    expect(sink.acts).toEqual([]); // paused: nothing armed
    release("write_pending");
    await flush();
    expect(io.written(3)).toBe("later");
    expect(sink.acts).toEqual([[1, "read_pending"]]);
    expect(sink.wakes).toBeGreaterThan(0);
  });

  it("a rejected Promise closes the connection", async () => {
    class Rejects extends Protocol {
      async dataReceived(): Promise<Action> {
        throw new Error("async boom");
      }
    }
    const { io, sink, r } = setup(Rejects);
    r.handoff(1, 3, {});
    io.feed(3, "x");
    r.readReady(1);
    await flush();
    expect(sink.acts).toEqual([[1, "close"]]);
    expect(sink.logs[0][2]).toMatch(/async boom/);
  });

  it("a read error (ECONNRESET) reaches connectionLost", () => {
    const { io, sink, r } = setup();
    r.handoff(1, 3, {});
    const p = getProtocol(3) as Echo;
    io.feed(3, Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read", errno: -104 }));
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "close"]]);
    expect((p.lost[0] as NodeJS.ErrnoException).code).toBe("ECONNRESET");
  });

  it("eofReceived can keep the connection open to finish writing", () => {
    class Half extends Protocol {
      dataReceived(): Action {
        return "continue";
      }
      eofReceived(): boolean {
        this.writeBuffer.push("bye");
        return true;
      }
    }
    const { io, sink, r } = setup(Half);
    r.handoff(1, 3, {});
    io.feed(3, "eof");
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "write_pending"]]);
    r.writeReady(1); // writes "bye", wants to read: after EOF that means close
    expect(io.written(3)).toBe("bye");
    expect(sink.acts.at(-1)).toEqual([1, "close"]);
  });

  it("connectionMade can send a greeting, and a failing factory refuses the fd", () => {
    class Greet extends Protocol {
      connectionMade(fd: number, info: ClientInfo): Action {
        super.connectionMade(fd, info);
        this.writeBuffer.push("hi");
        return "write_pending";
      }
      dataReceived(): Action {
        return "continue";
      }
    }
    const { io, sink, r } = setup(Greet);
    r.handoff(1, 3, {});
    expect(sink.acks).toEqual([[1, "write_pending"]]);
    setProtocolFactory(() => {
      throw new Error("no protocol for you");
    });
    r.handoff(2, 4, {});
    expect(sink.nacks).toEqual([[2, "factory_failed"]]);
    expect(io.closed).toContain(4);
  });

  it("closeAll gives every protocol connectionLost once", () => {
    const { sink, r } = setup();
    for (let i = 1; i <= 5; i++) r.handoff(i, 10 + i, {});
    const ps = [11, 12, 13, 14, 15].map((fd) => getProtocol(fd) as Echo);
    r.closeAll(new ReactorError("ESTOPPING", "stop"));
    expect(ps.map((p) => p.lost.length)).toEqual([1, 1, 1, 1, 1]);
    expect((ps[0].lost[0] as ReactorError).code).toBe("ESTOPPING");
    expect(sink.acts).toEqual([]); // Erlang closes its own copies when stopping
    expect(r.size).toBe(0);
  });

  it("close() from async code closes and tells Erlang", () => {
    const { sink, r } = setup(Echo, { lingerTimeout: 0 }); // the lingering close: see closing.test.ts
    r.handoff(1, 3, {});
    (getProtocol(3) as Echo).close();
    expect(sink.acts).toEqual([[1, "close"]]);
    expect(sink.wakes).toBe(1);
    expect(() => (getProtocol(3) ?? new Echo()).write("x")).toThrow(/closed/);
  });
});

describe("Reactor round trips", () => {
  it("WRITE is armed only when the kernel does not take everything", () => {
    const { io, sink, r } = setup();
    r.handoff(1, 3, {});
    io.fd(3).room = 2;
    io.feed(3, "abcdef");
    r.readReady(1);
    expect(io.written(3)).toBe("ab");
    expect(sink.acts).toEqual([[1, "write_pending"]]);
  });

  it("a full read is followed by another read at once, a few times at most", () => {
    const seen: number[] = [];
    class Count extends Protocol {
      dataReceived(d: Buffer): Action {
        seen.push(d.length);
        return "continue";
      }
    }
    const { io, sink, r } = setup(Count);
    r.handoff(1, 3, {});
    for (let i = 0; i < 10; i++) io.feed(3, Buffer.alloc(1024)); // readSize is 1024
    r.readReady(1);
    expect(seen).toEqual([1024, 1024, 1024, 1024]); // fairness: 4 per event
    expect(sink.acts).toEqual([[1, "read_pending"]]);
    io.fd(3).inbox = [Buffer.alloc(1024), Buffer.alloc(10)];
    r.readReady(1);
    expect(seen.slice(4)).toEqual([1024, 10]); // a short read ends the event
  });
});

describe("Reactor socket options", () => {
  it("setNoDelay(true) makes no syscall when the handoff says TCP_NODELAY is on (the listener's), nor a repeated one", () => {
    class Sets extends Echo {
      connectionMade(fd: number, info: ClientInfo): Action {
        super.connectionMade(fd, info);
        this.setNoDelay(true);
        return "continue";
      }
    }
    const { io, r } = setup(Sets);
    const set: string[] = [];
    const real = io.setSocketOption.bind(io);
    io.setSocketOption = (fd, name, value) => (set.push(`${fd} ${name}=${value}`), real(fd, name, value));
    r.handoff(1, 3, { type: "tcp" }, { proxy: false, tls: false, nodelay: true });
    r.handoff(2, 4, { type: "tcp" }, { proxy: false, tls: false });
    expect(set).toEqual(["4 nodelay=1"]);
    const p = getProtocol(3)!;
    p.setNoDelay(false);
    p.setNoDelay(false);
    p.setNoDelay(true);
    expect(set).toEqual(["4 nodelay=1", "3 nodelay=0", "3 nodelay=1"]);
  });
});

describe("Reactor handoff's read", () => {
  it("takes the bytes a client sent first at the handoff: its answer and its close ride the ack", () => {
    class Once extends Protocol {
      dataReceived(d: Buffer): Action {
        this.write(`got ${d}`);
        return "close";
      }
    }
    const { io, sink, r } = setup(Once, { lingerTimeout: 0 });
    io.feed(3, "GET /");
    r.handoff(1, 3, {});
    expect(io.written(3)).toBe("got GET /");
    expect(io.closed).toEqual([3]);
    expect(sink.acks).toEqual([[1, "close"]]);
    expect(sink.acts).toEqual([]); // no round through the poller
  });

  it("finds nothing yet: the ack arms READ, and the bytes come with its event", () => {
    const { io, sink, r } = setup();
    const reads: number[] = [];
    const read = io.readInto.bind(io);
    io.readInto = (fd, b, o, l) => {
      const n = read(fd, b, o, l);
      reads.push(n);
      return n;
    };
    r.handoff(1, 3, {});
    expect(reads).toEqual([-1]);
    expect(sink.acks).toEqual([[1, "read_pending"]]);
    io.feed(3, "hi");
    r.readReady(1);
    expect(io.written(3)).toBe("hi");
  });

  it("finds the peer's end: a protocol that paused reading at it answers later (a stream handler's half-open Socket), not closed at the ack", async () => {
    class Counts extends Protocol {
      n = 0;
      dataReceived(d: Buffer): Action {
        this.n += d.length;
        return "continue";
      }
      eofReceived(): boolean {
        this.pauseReading(); // as a Socket does: it ends the connection itself
        setImmediate(() => {
          this.write(`${this.n}\n`);
          this.close();
        });
        return false;
      }
    }
    const { io, sink, r } = setup(Counts, { lingerTimeout: 0 });
    io.feed(3, "eof"); // connected, and ended at once (nc -q0 </dev/null, a health check)
    r.handoff(1, 3, {});
    expect(sink.acks).toEqual([[1, "read_pending"]]);
    expect(io.closed).toEqual([]);
    await flush();
    expect(io.written(3)).toBe("0\n");
    expect(io.closed).toEqual([3]);
  });

  it("is made on sockets only: a pipe or a tty has no client that speaks first, and its write end cannot be read", () => {
    const { io, sink, r } = setup();
    const ebadf = Object.assign(new Error("read EBADF"), { code: "EBADF", errno: -9, syscall: "read" });
    io.feed(3, ebadf); // read(2) of an fd opened O_WRONLY (a FIFO's write end)
    r.handoff(1, 3, { type: "pipe" });
    io.feed(4, ebadf);
    r.handoff(2, 4, { type: "tty" });
    expect(sink.acks).toEqual([
      [1, "read_pending"],
      [2, "read_pending"],
    ]);
    expect(io.closed).toEqual([]);
    expect(getProtocol(3)!.closed).toBe(false);
  });

  it("is not made when connectionMade greeted the peer (it answers after reading), nor while reading is paused", () => {
    const reads: number[] = [];
    class Greets extends Echo {
      connectionMade(fd: number, info: ClientInfo): Action {
        super.connectionMade(fd, info);
        this.write("220 hello\r\n");
        return "continue";
      }
    }
    class Paused extends Echo {
      connectionMade(fd: number, info: ClientInfo): Action {
        super.connectionMade(fd, info);
        this.pauseReading();
        return "continue";
      }
    }
    for (const P of [Greets, Paused]) {
      const { io, sink, r } = setup(P);
      io.readInto = (_fd, _b, _o, l) => (reads.push(l), -1);
      io.feed(3, "EHLO x\r\n");
      r.handoff(1, 3, {});
      expect(sink.acks.length + sink.nacks.length).toBe(1);
    }
    expect(reads).toEqual([]);
  });
});

describe("Reactor half-close", () => {
  it("shutdownWrite sends the end of our side and keeps reading", () => {
    class Bye extends Protocol {
      got: string[] = [];
      dataReceived(d: Buffer): Action {
        this.got.push(d.toString());
        if (d.toString() === "bye") {
          this.write("goodbye");
          this.shutdownWrite();
        }
        return "read_pending";
      }
    }
    const { io, sink, r } = setup(Bye);
    r.handoff(1, 3, {});
    io.feed(3, "bye");
    r.readReady(1);
    expect(io.written(3)).toBe("goodbye");
    expect(io.shutdowns).toEqual([[3, 1]]);
    io.feed(3, "still talking");
    r.readReady(1);
    expect((getProtocol(3) as Bye).got).toEqual(["bye", "still talking"]);
    expect(sink.acts).toEqual([
      [1, "read_pending"],
      [1, "read_pending"],
    ]);
  });
});

describe("Reactor datagrams", () => {
  class UdpEcho extends Protocol {
    got: [string, string, number][] = [];
    dataReceived(d: Buffer, from?: { addr: string; port: number }): Action {
      this.got.push([d.toString(), from!.addr, from!.port]);
      return this.sendTo(d, from!.addr, from!.port) ? "read_pending" : "write_pending";
    }
  }

  it("delivers whole datagrams with their sender and answers to it", () => {
    const { io, sink, r } = setup(UdpEcho);
    r.handoff(1, 7, { type: "udp" });
    io.fd(7).datagramsIn.push(
      { data: Buffer.from("one"), addr: "127.0.0.1", port: 1111 },
      { data: Buffer.alloc(0), addr: "::1", port: 2222 },
      { data: Buffer.from("three"), addr: "127.0.0.1", port: 3333 },
    );
    r.readReady(1);
    const p = getProtocol(7) as UdpEcho;
    expect(p.got).toEqual([
      ["one", "127.0.0.1", 1111],
      ["", "::1", 2222],
      ["three", "127.0.0.1", 3333],
    ]);
    expect(io.fd(7).datagramsOut.map((s) => [s.data.toString(), s.port])).toEqual([
      ["one", 1111],
      ["", 2222],
      ["three", 3333],
    ]);
    expect(sink.acts).toEqual([[1, "read_pending"]]);
  });

  it("reports a datagram larger than read_size instead of cutting it", () => {
    const { io, sink, r } = setup(UdpEcho);
    r.handoff(1, 7, { type: "udp" });
    io.fd(7).datagramsIn.push(
      { data: Buffer.alloc(5000), addr: "10.0.0.1", port: 9 }, // readSize is 1024
      { data: Buffer.from("ok"), addr: "10.0.0.1", port: 9 },
    );
    const warned: string[] = [];
    const orig = console.warn;
    console.warn = (m: string) => warned.push(m);
    try {
      r.readReady(1);
    } finally {
      console.warn = orig;
    }
    expect(warned[0]).toMatch(/dropped a datagram of 5000 bytes from 10.0.0.1:9/);
    expect((getProtocol(7) as UdpEcho).got).toEqual([["ok", "10.0.0.1", 9]]);
    expect(sink.acts).toEqual([[1, "read_pending"]]);
  });

  it("queues datagrams the kernel does not take and sends them on writeReady", () => {
    const { io, sink, r } = setup(UdpEcho);
    r.handoff(1, 7, { type: "udp" });
    io.fd(7).room = 0;
    io.fd(7).datagramsIn.push({ data: Buffer.from("later"), addr: "127.0.0.1", port: 5 });
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "write_pending"]]);
    expect(getProtocol(7)?.datagrams).toHaveLength(1);
    io.fd(7).room = undefined;
    r.writeReady(1);
    expect(io.fd(7).datagramsOut.map((s) => s.data.toString())).toEqual(["later"]);
    expect(sink.acts.at(-1)).toEqual([1, "read_pending"]);
  });
});

describe("Reactor PROXY protocol", () => {
  class Seen extends Protocol {
    made?: ClientInfo;
    data: string[] = [];
    connectionMade(fd: number, info: ClientInfo): void {
      super.connectionMade(fd, info);
      this.made = info;
    }
    dataReceived(d: Buffer): Action {
      this.data.push(d.toString());
      return "continue";
    }
  }

  it("starts the protocol with the real client once the header is complete", () => {
    const { io, sink, r } = setup(Seen);
    r.handoff(1, 3, { type: "tcp", addr: "10.0.0.1", port: 999 }, { proxy: true, tls: false });
    const p = getProtocol(3) as Seen;
    expect(sink.acks).toEqual([[1, "read_pending"]]);
    io.feed(3, "PROXY TCP4 203.0.113.7 10.0.0.1 5555 ");
    r.readReady(1);
    expect(p.made).toBeUndefined(); // not yet
    io.feed(3, "443\r\nhello");
    r.readReady(1);
    expect(p.made).toMatchObject({ addr: "203.0.113.7", port: 5555, local_port: 443, proxied_by: { addr: "10.0.0.1", port: 999 } });
    expect(p.data).toEqual(["hello"]);
  });

  it("closes a connection whose header is malformed, with a log line", () => {
    const { io, sink, r } = setup(Seen);
    r.handoff(1, 3, { addr: "10.0.0.1", port: 999 }, { proxy: true, tls: false });
    io.feed(3, "GET / HTTP/1.1\r\n\r\n");
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "close"]]);
    expect(sink.logs[0]).toEqual(["warning", 1, expect.stringMatching(/malformed PROXY header from 10.0.0.1:999: no PROXY header/)]);
    expect((getProtocol(3) as Seen | undefined)?.made).toBeUndefined();
  });
});

describe("Reactor log attribution", () => {
  it("names the connection in callbacks and in what they start", async () => {
    const seen: (number | null)[] = [];
    class Later extends Protocol {
      dataReceived(): Action {
        seen.push(currentConnection());
        setTimeout(() => seen.push(currentConnection()), 1);
        void Promise.resolve().then(() => seen.push(currentConnection()));
        return "continue";
      }
    }
    const { io, r } = setup(Later);
    r.handoff(7, 3, {});
    io.feed(3, "x");
    r.readReady(7);
    await sleep(10);
    expect(seen).toEqual([7, 7, 7]);
    expect(currentConnection()).toBeNull();
  });

  it("names a stream handler's connection in its listeners, not in what Node's server starts", async () => {
    const seen: (number | null)[] = [];
    const server = new Server((socket) => {
      seen.push(currentConnection());
      socket.on("data", () => {
        seen.push(currentConnection());
        setTimeout(() => seen.push(currentConnection()), 1);
        void Promise.resolve().then(() => seen.push(currentConnection()));
      });
    });
    const { io, r } = setup();
    protocols.setProtocolFactory(server);
    r.handoff(7, 3, {});
    io.feed(3, "x");
    r.readReady(7);
    await sleep(10);
    expect(seen).toEqual([7, 7, null, null]);
  });
});

describe("Reactor adaptive reads", () => {
  it("grow while reads fill the buffer, shrink when they do not", () => {
    class Count extends Protocol {
      dataReceived(): Action {
        return "continue";
      }
    }
    const { io, r } = setup(Count, { readSize: 1 << 20 });
    const asked: number[] = [];
    const read = io.readInto.bind(io);
    io.readInto = (fd, b, o, l) => (asked.push(l), read(fd, b, o, l));
    r.handoff(1, 3, {});
    // each chunk is what the kernel has when the read asks for that much
    for (const n of [1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 20]) io.feed(3, Buffer.alloc(n));
    r.readReady(1);
    r.readReady(1);
    // the handoff's read (nothing there yet), 4 reads in the first event
    // (each filled its buffer), then 1 MiB reads until nothing is left (the
    // last one finds nothing)
    expect(asked).toEqual([65536, 65536, 131072, 262144, 524288, 1048576, 1048576, 1048576]);
    asked.length = 0;
    for (let i = 0; i < 3; i++) io.feed(3, Buffer.alloc(100));
    r.readReady(1);
    r.readReady(1);
    r.readReady(1);
    expect(asked).toEqual([1048576, 524288, 262144]);
  });
});

describe("Reactor limits", () => {
  it("a Promise that never settles is closed by the callback timeout", async () => {
    class Hangs extends Protocol {
      lost?: Error;
      dataReceived(): Promise<Action> {
        return new Promise(() => {});
      }
      connectionLost(e?: Error) {
        this.lost = e;
      }
    }
    const { io, sink, r } = setup(Hangs, { callbackTimeout: 30 });
    r.handoff(1, 3, {});
    const p = getProtocol(3) as Hangs;
    io.feed(3, "x");
    r.readReady(1);
    await sleep(60);
    expect(sink.acts).toEqual([[1, "close"]]);
    expect((p.lost as ReactorError).code).toBe("ECALLBACKTIMEOUT");
    expect(sink.logs[0][2]).toMatch(/dataReceived failed: ReactorError: dataReceived did not settle within 30 ms/);
  });

  it("an idle connection is closed; a busy one is not", async () => {
    const { io, sink, r } = setup(Echo, { idleTimeout: 60 });
    r.handoff(1, 3, {});
    r.handoff(2, 4, {});
    const idle = getProtocol(3) as Echo;
    for (let i = 0; i < 6; i++) {
      await sleep(20);
      io.feed(4, "k");
      r.readReady(2);
      r.writeReady(2);
    }
    expect(sink.acts.filter(([id, a]) => id === 1 && a === "close")).toHaveLength(1);
    expect((idle.lost[0] as ReactorError).code).toBe("EIDLETIMEOUT");
    expect(sink.acts.filter(([id, a]) => id === 2 && a === "close")).toHaveLength(0);
  });

  it("stops reading while writeBuffer is over the high-water mark", () => {
    class Amplify extends Protocol {
      dataReceived(d: Buffer): Action {
        for (let i = 0; i < 100; i++) this.writeBuffer.push(d);
        return "read_pending"; // wants more input, but output is piling up
      }
    }
    const { io, sink, r } = setup(Amplify, { writeHighWater: 5000 });
    io.fd(3).room = 0; // a reader that does not read
    r.handoff(1, 3, {});
    io.feed(3, Buffer.alloc(100));
    r.readReady(1);
    expect(sink.acts.at(-1)).toEqual([1, "write_pending"]); // 10,000 queued: no more reading
    r.writeReady(1);
    expect(sink.acts.at(-1)).toEqual([1, "write_pending"]);
    io.fd(3).room = 6000; // the reader catches up a little: below the mark
    r.writeReady(1);
    expect(getProtocol(3)?.writeBuffer.length).toBe(4000);
    expect(sink.acts.at(-1)).toEqual([1, "write_pending"]); // default writeReady: "continue"
    expect(r.stats().buffered).toBe(4000);
  });

  it("EOF with output still queued writes it before closing", () => {
    const { io, sink, r } = setup();
    r.handoff(1, 3, {});
    io.fd(3).room = 2;
    io.feed(3, "hello", "eof");
    r.readReady(1); // queues "hello"
    r.writeReady(1); // writes "he"
    r.readReady(1); // EOF: queued output goes out first
    expect(sink.acts.at(-1)).toEqual([1, "write_pending"]);
    io.fd(3).room = undefined;
    r.writeReady(1);
    expect(io.written(3)).toBe("hello");
    expect(sink.acts.at(-1)).toEqual([1, "close"]);
  });

  it("a write that fails in a timer closes the connection", () => {
    const { io, sink, r } = setup();
    r.handoff(1, 3, {});
    const p = getProtocol(3) as Echo;
    io.writev = () => {
      throw Object.assign(new Error("write EPIPE"), { code: "EPIPE", syscall: "write", errno: -32 });
    };
    expect(() => p.write("late")).toThrow(/EPIPE/);
    expect(sink.acts).toEqual([[1, "close"]]);
    expect((p.lost[0] as NodeJS.ErrnoException).code).toBe("EPIPE");
  });
});

describe("WriteBuffer", () => {
  it("queues views and consumes across chunk boundaries", () => {
    class P extends Protocol {
      dataReceived(): Action {
        return "continue";
      }
    }
    const w = new P().writeBuffer;
    w.push("abc");
    w.extend(Buffer.from("defg"));
    w.push("");
    expect(w.length).toBe(7);
    w.consume(2);
    expect(Buffer.concat(w.peek()).toString()).toBe("cdefg");
    w.consume(3);
    expect(w.toBuffer().toString()).toBe("fg");
    expect(() => w.consume(3)).toThrow(RangeError);
    w.clear();
    expect(w.length).toBe(0);
  });
});

describe("Reactor reload", () => {
  class Old extends Protocol {
    dataReceived(data: Buffer): Action {
      this.writeBuffer.push(`old:${data}`);
      return "write_pending";
    }
  }
  class New extends Protocol {
    static adopted: Protocol[] = [];
    static adopt(old: Protocol): Protocol | undefined {
      if (old.clientInfo.port === 2) return undefined; // declined: stays on Old
      New.adopted.push(old);
      return new New();
    }
    dataReceived(data: Buffer): Action {
      this.writeBuffer.push(`new:${data}`);
      return "write_pending";
    }
  }

  it("new connections get the new code; live ones stay on the old unless adopted", () => {
    const { io, r } = setup(Old);
    r.handoff(1, 10, { type: "tcp", port: 1 });
    r.handoff(2, 11, { type: "tcp", port: 2 });
    setProtocolFactory(() => new New()); // a reload without a hook
    r.handoff(3, 12, { type: "tcp", port: 3 });
    for (const [id, fd] of [[1, 10], [2, 11], [3, 12]]) {
      io.feed(fd, "x");
      r.readReady(id);
    }
    expect([10, 11, 12].map((fd) => io.written(fd))).toEqual(["old:x", "old:x", "new:x"]);
  });

  it("an adopt hook takes over live connections with their unwritten bytes", () => {
    const { io, sink, r } = setup(Old);
    r.handoff(1, 10, { type: "tcp", port: 1 });
    r.handoff(2, 11, { type: "tcp", port: 2 });
    const old = getProtocol(10)!;
    io.fd(10).room = 0; // the peer is slow: bytes stay queued
    io.feed(10, "a");
    r.readReady(1);
    expect(old.writeBuffer.length).toBe(5);
    expect(r.adopt((p) => New.adopt(p))).toBe(1);
    const now = getProtocol(10)!;
    expect(now).toBeInstanceOf(New);
    expect(now.clientInfo.port).toBe(1);
    expect(getProtocol(11)).toBeInstanceOf(Old);
    expect(() => old.write("late")).toThrow(/connection is closed/);
    io.fd(10).room = undefined;
    r.writeReady(1);
    io.feed(10, "b");
    r.readReady(1);
    expect(io.written(10)).toBe("old:anew:b");
    expect(sink.acts.filter(([id]) => id === 1).pop()).toEqual([1, "read_pending"]);
  });

  it("a hook that throws or returns a non-Protocol leaves the connection on the old code", () => {
    const { sink, r } = setup(Old);
    r.handoff(1, 10, { type: "tcp" });
    expect(r.adopt(() => { throw new Error("nope"); })).toBe(0);
    expect(r.adopt(() => 42 as unknown as Protocol)).toBe(0);
    expect(getProtocol(10)).toBeInstanceOf(Old);
    expect(sink.logs.map((l) => l[2]).join("\n")).toMatch(/adopt threw[\s\S]*adopt returned 42/);
  });
});
