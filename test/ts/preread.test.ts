// Issue 18 item 5: bytes read from a connection before its handoff (what
// reactor:handoff_socket/3 takes out of a gen_tcp port) reach dataReceived
// before anything read from the fd, and the handoff's ack says what the
// protocol wants after them. End to end:
// reactor_faults_replayed_SUITE:handoff_keeps_buffered_lines and friends.
import { Action, ClientInfo, Protocol } from "../../ts/index";
import { Reactor } from "../../ts/reactor";
import { ProtocolTable } from "../../ts/protocol-table";
import type { TransportSpec } from "../../ts/types";
import { MemoryFds } from "./memory-fds";
import { RecordingSink } from "./recording-sink";

class Recorder extends Protocol {
  got: string[] = [];
  lost: (Error | undefined)[] = [];
  dataReceived(d: Buffer): Action {
    this.got.push(d.toString());
    if (d.toString().includes("QUIT")) return "close";
    this.writeBuffer.push(d);
    return "write_pending";
  }
  connectionLost(reason?: Error): void {
    this.lost.push(reason);
  }
}

class Greeter extends Recorder {
  connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    this.writeBuffer.push("HELLO\n");
    return "write_pending";
  }
}

const spec = (preread: string, proxy = false): TransportSpec => ({ proxy, tls: false, preread: Buffer.from(preread) });

function setup(P: new () => Protocol = Recorder, opts: { lingerTimeout?: number } = {}) {
  const io = new MemoryFds();
  const sink = new RecordingSink();
  const protocols = new ProtocolTable();
  protocols.setProtocolFactory(P);
  const r = new Reactor(io, sink, protocols, { readSize: 1024, ...opts });
  return { io, sink, r, p: <T extends Protocol>() => protocols.getProtocol(7) as T };
}

describe("bytes read before the handoff (issue 18, item 5)", () => {
  it("reach dataReceived first, then what the fd holds, in order", () => {
    const { io, sink, r, p } = setup();
    io.feed(7, "DATA3\n");
    r.handoff(1, 7, { type: "tcp" }, spec("DATA1\nDATA2\n"));
    expect(p<Recorder>().got).toEqual(["DATA1\nDATA2\n", "DATA3\n"]);
    expect(io.written(7)).toBe("DATA1\nDATA2\nDATA3\n");
    expect(sink.acks).toEqual([[1, "read_pending"]]);
    expect(sink.acts).toEqual([]); // nothing is said of a connection before its ack
    expect(r.stats().bytes_in).toBe(18);
  });

  it("come after a greeting that connectionMade queued", () => {
    const { io, sink, r } = setup(Greeter);
    r.handoff(1, 7, { type: "tcp" }, spec("DATA1\n"));
    expect(io.written(7)).toBe("HELLO\nDATA1\n");
    expect(sink.acks).toEqual([[1, "read_pending"]]);
  });

  it("can end the connection: the ack is the close", () => {
    const { io, sink, r, p } = setup(Recorder, { lingerTimeout: 0 }); // the lingering close: closing.test.ts
    r.handoff(1, 7, { type: "tcp" }, spec("QUIT\n"));
    expect(p()).toBeUndefined();
    expect(sink.acks).toEqual([[1, "close"]]);
    expect(sink.acts).toEqual([]);
    expect(io.closed).toEqual([7]);
  });

  it("can end the connection gracefully: the ack arms the lingering read", () => {
    const { io, sink, r, p } = setup();
    r.handoff(1, 7, { type: "tcp" }, spec("QUIT\n"));
    expect(p()).toBeUndefined();
    expect(sink.acks).toEqual([[1, "read_pending"]]); // read and drop until the peer's FIN
    expect(io.closed).toEqual([]);
  });

  it("are answered before an EOF that followed them closes the connection", () => {
    const { io, sink, r } = setup();
    io.feed(7, "eof");
    r.handoff(1, 7, { type: "tcp" }, spec("last words\n"));
    expect(io.written(7)).toBe("last words\n");
    expect(sink.acks).toEqual([[1, "close"]]);
    expect(io.closed).toEqual([7]);
  });

  it("go through the stack: a PROXY header among them is read as one", () => {
    const { sink, r, p } = setup();
    r.handoff(1, 7, { type: "tcp", addr: "10.0.0.9", port: 1 }, spec("PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\r\nDATA1\n", true));
    expect(p<Recorder>().clientInfo).toMatchObject({ addr: "192.0.2.1", port: 5000 });
    expect(p<Recorder>().got).toEqual(["DATA1\n"]);
    expect(sink.acks).toEqual([[1, "read_pending"]]);
  });

  it("are what Protocol.read() gives first", () => {
    class Reader extends Protocol {
      reads: (string | null)[] = [];
      connectionMade(fd: number, info: ClientInfo): Action {
        super.connectionMade(fd, info);
        for (let i = 0; i < 3; i++) this.reads.push(this.read(4)?.toString() ?? null);
        return "read_pending";
      }
      dataReceived(): Action {
        return "continue";
      }
    }
    const { io, r, p } = setup(Reader);
    io.feed(7, "fd!");
    r.handoff(1, 7, { type: "tcp" }, spec("PREREAD"));
    expect(p<Reader>().reads).toEqual(["PRER", "EAD", "fd!"]);
  });

  it("with an async handler: READ waits until its Promise settles", async () => {
    class Slow extends Protocol {
      got: string[] = [];
      dataReceived(d: Buffer): Promise<Action> {
        this.got.push(d.toString());
        return new Promise((res) => setTimeout(() => res("read_pending"), 10));
      }
    }
    const { io, sink, r, p } = setup(Slow);
    r.handoff(1, 7, { type: "tcp" }, spec("first"));
    expect(sink.acks).toEqual([[1, "read_pending"]]);
    io.feed(7, "second");
    r.readReady(1); // armed by the ack while the handler was pending
    expect(p<Slow>().got).toEqual(["first"]);
    await new Promise((res) => setTimeout(res, 30));
    expect(sink.acts).toEqual([[1, "read_pending"]]); // armed again once settled
    r.readReady(1);
    expect(p<Slow>().got).toEqual(["first", "second"]);
  });
});
