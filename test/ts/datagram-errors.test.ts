// Issue 18 item 4: an error on a datagram socket concerns one datagram. The
// protocol hears of it through datagramError and the socket serves on, as
// Node's dgram emits 'error' and stays open. The end-to-end counterpart, over
// a real UDP socket, is reactor_faults_replayed_SUITE:udp_send_error_keeps_serving.
import { Action, Peer, Protocol } from "../../ts/index";
import { Reactor } from "../../ts/reactor";
import { Registry } from "../../ts/registry";
import { FakeIo, RecordingSink } from "./fake-io";

const sysError = (code: string, syscall: string) =>
  Object.assign(new Error(`${syscall} ${code}`), { code, errno: -1, syscall });

/** A FakeIo whose next sends, writes and reads fail as scripted. */
class FailingIo extends FakeIo {
  sendErrors: Error[] = [];
  writeErrors: Error[] = [];
  recvErrors: Error[] = [];
  sendTo(fd: number, b: Uint8Array, addr: string, port: number): number {
    const e = this.sendErrors.shift();
    if (e) throw e;
    return super.sendTo(fd, b, addr, port);
  }
  writev(fd: number, bufs: Uint8Array[]): number {
    const e = this.writeErrors.shift();
    if (e) throw e;
    return super.writev(fd, bufs);
  }
  recvFrom(fd: number, buf: Buffer, off: number, len: number) {
    const e = this.recvErrors.shift();
    if (e) throw e;
    return super.recvFrom(fd, buf, off, len);
  }
}

class Answering extends Protocol {
  errors: [string, Peer | undefined][] = [];
  caught: string[] = [];
  lost: (Error | undefined)[] = [];
  dataReceived(d: Buffer, from?: Peer): Action {
    try {
      if (d.toString() === "big") this.sendTo(Buffer.alloc(70000), from!.addr, from!.port);
      else if (d.toString() === "write") this.write("to the connected peer");
      else this.sendTo(d, from!.addr, from!.port);
    } catch (e) {
      this.caught.push((e as Error).message); // the protocol: it must never get here
    }
    return this.datagrams.length ? "write_pending" : "read_pending";
  }
  datagramError(err: Error, to?: Peer): void {
    this.errors.push([(err as NodeJS.ErrnoException).code!, to]);
  }
  connectionLost(reason?: Error): void {
    this.lost.push(reason);
  }
}

function setup() {
  const io = new FailingIo();
  const sink = new RecordingSink();
  const registry = new Registry();
  registry.setProtocolFactory(Answering);
  const r = new Reactor(io, sink, registry, { readSize: 65536 });
  r.handoff(1, 7, { type: "udp" });
  return { io, sink, r, p: () => registry.getProtocol(7) as Answering };
}

const A = { addr: "127.0.0.1", port: 1111 };
const B = { addr: "127.0.0.1", port: 2222 };

describe("datagram socket errors (issue 18, item 4)", () => {
  it("a send the kernel refuses goes to datagramError and the next peer is served", () => {
    const { io, sink, r, p } = setup();
    io.sendErrors.push(sysError("EMSGSIZE", "sendto"));
    io.dgrams.set(7, [
      { data: Buffer.from("big"), ...A },
      { data: Buffer.from("hello"), ...B },
    ]);
    r.readReady(1);
    expect(p().errors).toEqual([["EMSGSIZE", { addr: "127.0.0.1", port: 1111 }]]);
    expect(p().caught).toEqual([]);
    expect(p().lost).toEqual([]);
    expect(io.sent.map((s) => [s.data, s.port])).toEqual([["hello", 2222]]);
    expect(io.closed).toEqual([]);
    expect(sink.acts).toEqual([[1, "read_pending"]]);
    expect(r.stats()).toMatchObject({ connections: 1, errors: 1 });
  });

  it("a queued datagram that fails when flushed is reported and dropped, the rest go", () => {
    const { io, sink, r, p } = setup();
    io.writeLimit = 0; // the kernel takes nothing now: both are queued
    io.dgrams.set(7, [{ data: Buffer.from("first"), ...A }]);
    r.readReady(1);
    io.dgrams.set(7, [{ data: Buffer.from("second"), ...B }]);
    r.readReady(1);
    expect(p().datagrams).toHaveLength(2);
    io.writeLimit = undefined;
    io.sendErrors.push(sysError("EHOSTUNREACH", "sendto"));
    r.writeReady(1);
    expect(p().errors).toEqual([["EHOSTUNREACH", A]]);
    expect(io.sent.map((s) => s.data)).toEqual(["second"]);
    expect(p().datagrams).toHaveLength(0);
    expect(sink.acts.at(-1)).toEqual([1, "read_pending"]);
    expect(p().lost).toEqual([]);
  });

  it("ICMP errors on a connected socket's read (ECONNREFUSED) go there too; reading goes on", () => {
    const { io, r, p } = setup();
    io.recvErrors.push(sysError("ECONNREFUSED", "recvfrom"));
    io.dgrams.set(7, [{ data: Buffer.from("after"), ...A }]);
    r.readReady(1);
    expect(p().errors).toEqual([["ECONNREFUSED", undefined]]);
    expect(io.sent.map((s) => s.data)).toEqual(["after"]);
    expect(p().lost).toEqual([]);
  });

  it("a connected socket's write that fails counts as taken: no retry loop", () => {
    const { io, sink, r, p } = setup();
    io.writeErrors.push(sysError("ECONNREFUSED", "write"));
    io.dgrams.set(7, [{ data: Buffer.from("write"), ...A }]);
    r.readReady(1);
    expect(p().errors).toEqual([["ECONNREFUSED", undefined]]);
    expect(p().caught).toEqual([]);
    expect(sink.acts).toEqual([[1, "read_pending"]]);
  });

  it("an unusable fd (EBADF) still ends the connection", () => {
    const { io, r, p } = setup();
    io.recvErrors.push(sysError("EBADF", "recvfrom"));
    const proto = p();
    r.readReady(1);
    expect(proto.lost.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(["EBADF"]);
    expect(r.stats().connections).toBe(0);
  });

  it("the default datagramError logs a warning naming the peer; the socket lives", () => {
    class Plain extends Protocol {
      dataReceived(d: Buffer, from?: Peer): Action {
        this.sendTo(d, from!.addr, from!.port);
        return "read_pending";
      }
    }
    const io = new FailingIo();
    const registry = new Registry();
    registry.setProtocolFactory(Plain);
    const r = new Reactor(io, new RecordingSink(), registry);
    r.handoff(1, 7, { type: "udp" });
    io.sendErrors.push(sysError("EMSGSIZE", "sendto"));
    io.dgrams.set(7, [{ data: Buffer.from("x"), ...A }]);
    const warned: string[] = [];
    const orig = console.warn;
    console.warn = (m: string) => warned.push(m);
    try {
      r.readReady(1);
    } finally {
      console.warn = orig;
    }
    expect(warned).toEqual(["a datagram to 127.0.0.1:1111 failed: sendto EMSGSIZE"]);
    expect(r.stats().connections).toBe(1);
  });
});
