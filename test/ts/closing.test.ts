// How connections end, in the real engine over an fd in memory (the harness):
// a graceful close writes what was queued, then the FIN, then reads and drops
// what the peer still sends for a bounded time and size; an abortive one
// drops everything now. The end-to-end versions: reactor_close_SUITE.
import { Action, ClientInfo, Protocol, ReactorError } from "../../ts/index";
import { connect } from "../../ts/testing";
import { Reactor, ReactorOptions } from "../../ts/reactor";
import { ProtocolTable } from "../../ts/protocol-table";
import { MemoryFds } from "./memory-fds";
import { RecordingSink } from "./recording-sink";

/** Closes as its constructor argument says; records what it was told. */
function closer(how: "made_return" | "made_close" | "made_only" | "data_return" | "data_close") {
  return class Closer extends Protocol {
    got: string[] = [];
    lost: (Error | undefined)[] = [];
    connectionMade(fd: number, info: ClientInfo): Action {
      super.connectionMade(fd, info);
      if (how === "made_return") {
        this.writeBuffer.push("BUSY\r\n");
        return "close";
      }
      if (how === "made_close" || how === "made_only") {
        if (how === "made_close") this.writeBuffer.push("BUSY\r\n");
        this.close();
      }
      return "read_pending";
    }
    dataReceived(d: Buffer): Action {
      this.got.push(d.toString());
      this.writeBuffer.push(`BYE ${d}\r\n`);
      if (how === "data_close") {
        this.close();
        return "read_pending";
      }
      return "close";
    }
    connectionLost(reason?: Error): void {
      this.lost.push(reason);
    }
  };
}

const code = (e: Error | undefined) => (e as ReactorError | undefined)?.code;

/** The engine serving a data_return Closer on fd 3 (connection 1), in memory. */
function engine(opts: ReactorOptions = {}) {
  const io = new MemoryFds();
  const sink = new RecordingSink();
  const protocols = new ProtocolTable();
  protocols.setProtocolFactory(closer("data_return"));
  const r = new Reactor(io, sink, protocols, opts);
  r.handoff(1, 3, { type: "tcp" });
  return { io, sink, r };
}

describe("graceful close", () => {
  it.each(["made_return", "made_close"] as const)("%s: the greeting, then the FIN, then a lingering read", (how) => {
    const t = connect(closer(how));
    expect(t.take()).toBe("BUSY\r\n");
    expect(t.peerSawEnd).toBe(true);
    expect(t.lost).toEqual({ reason: undefined });
    // the close was announced with the handoff: Erlang polls the linger
    expect(t.refused).toBeUndefined();
    expect(t.actions).toEqual(["read_pending"]);
    t.end(); // the peer's end ends it
    expect(t.actions).toEqual(["read_pending", "close"]);
  });

  it("this.close() in connectionMade with nothing queued: announced, then closed (no leaked slot)", () => {
    const t = connect(closer("made_only"), { lingerTimeout: 0 });
    expect(t.refused).toBeUndefined();
    expect(t.actions).toEqual(["close"]); // the ack itself says close: Erlang drops its copy
    expect(t.peerSawEnd).toBe(true);
  });

  it.each(["data_return", "data_close"] as const)("%s: what a slow peer has not taken yet goes before the FIN", (how) => {
    const t = connect(closer(how));
    t.slowPeer(3).feed("x");
    expect(t.take()).toBe("BYE");
    expect(t.actions.at(-1)).toBe("write_pending");
    expect(t.peerSawEnd).toBe(false);
    expect(t.lost).toBeUndefined(); // connectionLost once the bytes are out
    t.drain();
    expect(t.take()).toBe(" x\r\n");
    expect(t.peerSawEnd).toBe(true);
    expect(t.lost).toEqual({ reason: undefined });
    expect((t.protocol as unknown as { lost: unknown[] }).lost).toEqual([undefined]);
  });

  it("a peer that takes nothing is cut after close_timeout (ECLOSETIMEOUT)", async () => {
    const t = connect(closer("data_return"), { closeTimeout: 500 });
    t.slowPeer(0).feed("x");
    await t.advance(499);
    expect(t.lost).toBeUndefined();
    await t.advance(1);
    expect(code(t.lost?.reason)).toBe("ECLOSETIMEOUT");
    expect(t.lost?.reason?.message).toMatch(/did not take the last 7 bytes and the end within 500 ms/);
    expect(t.actions.at(-1)).toBe("close");
  });

  it("lingers: what the peer sends after the FIN is dropped, unseen, until its end", () => {
    const t = connect(closer("data_return"));
    t.feed("x");
    const p = t.protocol as unknown as { got: string[] };
    t.feed("more of the upload").feed("and more");
    expect(p.got).toEqual(["x"]);
    expect(t.actions.at(-1)).toBe("read_pending");
    t.end();
    expect(t.actions.at(-1)).toBe("close");
  });

  it("lingers linger_timeout at most", async () => {
    const t = connect(closer("data_return"), { lingerTimeout: 300 });
    t.feed("x");
    await t.advance(299);
    expect(t.actions.at(-1)).toBe("read_pending");
    await t.advance(1);
    expect(t.actions.at(-1)).toBe("close");
  });

  it("lingers linger_max_bytes at most", () => {
    const t = connect(closer("data_return"), { lingerMaxBytes: 10 });
    t.feed("x");
    t.feed("123456789");
    expect(t.actions.at(-1)).toBe("read_pending");
    t.feed("0");
    expect(t.actions.at(-1)).toBe("close");
  });

  it("linger_timeout 0: closed with the FIN", () => {
    const t = connect(closer("data_return"), { lingerTimeout: 0 });
    t.feed("x");
    expect(t.take()).toBe("BYE x\r\n");
    expect(t.actions.at(-1)).toBe("close");
  });

  it("after the peer's EOF there is nothing to linger for", () => {
    class Last extends Protocol {
      dataReceived(): Action {
        return "read_pending";
      }
      eofReceived(): boolean {
        this.writeBuffer.push("bye\n");
        return true;
      }
    }
    const t = connect(Last);
    t.end();
    expect(t.take()).toBe("bye\n");
    expect(t.actions.at(-1)).toBe("close");
  });

  it("a timer's close writes what the protocol queued in timedOut (a 408)", async () => {
    class Deadline extends Protocol {
      connectionMade(fd: number, info: ClientInfo): void {
        super.connectionMade(fd, info);
        this.setDeadline(100);
      }
      dataReceived(): Action {
        return "continue";
      }
      timedOut(): Action {
        this.writeBuffer.push("HTTP/1.1 408 Request Timeout\r\n\r\n");
        return "close";
      }
    }
    const t = connect(Deadline);
    await t.advance(100);
    expect(t.take()).toBe("HTTP/1.1 408 Request Timeout\r\n\r\n");
    expect(code(t.lost?.reason)).toBe("EDEADLINE");
    expect(t.peerSawEnd).toBe(true);
  });

  it("destroy() drops what is queued and closes now", () => {
    class Abort extends Protocol {
      dataReceived(): Action {
        this.writeBuffer.push("never sent");
        this.destroy(new Error("refused"));
        return "write_pending";
      }
    }
    const t = connect(Abort);
    t.slowPeer(0).feed("x");
    expect(t.written().length).toBe(0);
    expect(t.lost?.reason?.message).toBe("refused");
    expect(t.actions.at(-1)).toBe("close");
  });

  it("Erlang's close during a graceful one aborts it: connectionLost says so, nothing more goes", () => {
    const t = connect(closer("data_return"));
    t.slowPeer(3).feed("x");
    expect(t.lost).toBeUndefined();
    t.closeFromErlang("stopping");
    expect(code(t.lost?.reason)).toBe("ECLOSEDBYREACTOR");
    t.drain();
    expect(t.take()).toBe("BYE");
  });
});

describe("graceful close, in the engine", () => {
  it("flushes datagrams, with no FIN and no linger", () => {
    class Udp extends Protocol {
      dataReceived(d: Buffer, from?: { addr: string; port: number }): Action {
        this.sendTo(d, from!.addr, from!.port);
        this.sendTo("bye", from!.addr, from!.port);
        return "close";
      }
    }
    const io = new MemoryFds();
    const sink = new RecordingSink();
    const protocols = new ProtocolTable();
    protocols.setProtocolFactory(Udp);
    const r = new Reactor(io, sink, protocols);
    r.handoff(1, 3, { type: "udp" });
    io.fd(3).room = 0; // the kernel takes no datagram now
    io.fd(3).datagramsIn.push({ data: Buffer.from("hi"), addr: "10.0.0.1", port: 53 });
    r.readReady(1);
    expect(sink.acts).toEqual([[1, "write_pending"]]);
    io.fd(3).room = undefined;
    r.writeReady(1);
    expect(io.fd(3).datagramsOut.map((d) => d.data.toString())).toEqual(["hi", "bye"]);
    expect(sink.acts).toEqual([[1, "write_pending"], [1, "close"]]);
    expect(io.shutdowns).toEqual([[3, 2]]); // close's own shutdown, no SHUT_WR first
    r.dispose();
  });

  it("counts a closing connection until it is gone, and reports it as closing", () => {
    const { io, sink, r } = engine();
    io.feed(3, "x");
    r.readReady(1);
    expect(io.shutdowns).toEqual([[3, 1]]);
    expect(r.connections().map((c) => c.state)).toEqual(["closing"]);
    expect(r.stats().connections).toBe(1);
    io.feed(3, "late bytes", "eof");
    r.readReady(1);
    expect(sink.acts.at(-1)).toEqual([1, "close"]);
    expect(io.closed).toEqual([3]);
    expect(r.stats()).toMatchObject({ connections: 0, bytes_in: 11 });
    r.dispose();
  });

  it("under Erlang the poller lingers: once the FIN is out Node's copy closes and 'linger' is told", () => {
    const lost: (Error | undefined)[] = [];
    const { io, sink, r } = engine({ pollerLingers: true, onClose: (_id, reason) => lost.push(reason) });
    r.readReady(1);
    io.feed(3, "x");
    r.readReady(1);
    expect(io.written(3)).toBe("BYE x\r\n");
    expect(io.shutdowns).toEqual([[3, 1]]);
    expect(io.closed).toEqual([3]);
    expect(sink.acts.at(-1)).toEqual([1, "linger"]);
    expect(lost).toEqual([undefined]);
    expect(r.stats().connections).toBe(0);
    r.dispose();
  });

  it("under Erlang, a close whose FIN waits for room lingers only once the FIN is out", () => {
    const { io, sink, r } = engine({ pollerLingers: true });
    r.readReady(1);
    io.fd(3).room = 0;
    io.feed(3, "x");
    r.readReady(1);
    expect(sink.acts.at(-1)).toEqual([1, "write_pending"]);
    expect(io.closed).toEqual([]);
    io.fd(3).room = undefined;
    r.writeReady(1);
    expect(io.written(3)).toBe("BYE x\r\n");
    expect(io.closed).toEqual([3]);
    expect(sink.acts.at(-1)).toEqual([1, "linger"]);
    r.dispose();
  });
});
