// Erlang talks to connections: messageReceived (reactor:send/2 to a
// connection's ref), groups (join/leave, a publish to their members), the
// bounded queue of a connection that does not keep up, and write() from
// outside a callback, on the harness (erlang-reactor/testing) and on the
// engine with a recording sink.
import { Action, ClientInfo, Protocol, ReactorError } from "../../ts/index";
import { connect, stubBeam } from "../../ts/testing";
import { beam } from "../../ts/beam";
import { Reactor, ReactorOptions } from "../../ts/reactor";
import { ProtocolTable } from "../../ts/protocol-table";
import { Atom, Pid, Term, Tuple, atom, decodeTerm, encodeTerm, tuple } from "../../ts/term";
import { MemoryFds } from "./memory-fds";
import { Groups } from "../../ts/groups";
import type { Connection } from "../../ts/connection";
import { RecordingSink } from "./recording-sink";

/** Writes each message it gets, one line each; `hold` pauses it on a Promise. */
class Lines extends Protocol {
  got: Term[] = [];
  hold: (() => void) | undefined;
  holding = false;
  dataReceived(d: Buffer): Action | Promise<Action> {
    if (d.toString() === "hold") {
      this.holding = true;
      return new Promise<Action>((res) => (this.hold = () => ((this.holding = false), res("read_pending"))));
    }
    if (d.toString().startsWith("join ")) this.join(d.toString().slice(5));
    if (d.toString().startsWith("leave ")) this.leave(d.toString().slice(6));
    return "continue";
  }
  messageReceived(term: Term): Action | Promise<Action> {
    this.got.push(term);
    if (term instanceof Atom && term.name === "close") return "close";
    if (term instanceof Atom && term.name === "wait") {
      return new Promise<Action>((res) => (this.hold = () => res("continue")));
    }
    this.write(`${Buffer.isBuffer(term) ? term.toString() : String(term)}\n`);
    return "continue";
  }
}

describe("messageReceived", () => {
  it("gets what Erlang sends, as the bridge decodes it, and writes to the peer", () => {
    const t = connect(Lines);
    t.message("hello").message(42).message(tuple(atom("ok"), 1n << 70n));
    expect(t.take()).toBe(`hello\n42\n{ok, ${1n << 70n}}\n`); // a Tuple prints as Erlang writes it
    expect(t.protocol.got[0]).toEqual(Buffer.from("hello")); // a binary is a Buffer
    expect(t.protocol.got[2]).toEqual(new Tuple([atom("ok"), 1n << 70n]));
    expect(t.stats()).toMatchObject({ messages_delivered: 3, messages_queued: 0, sent_to_ended: 0 });
  });

  it('"continue" arms nothing new: the connection still waits for what it waited for', () => {
    const t = connect(Lines);
    const before = t.actions.length;
    t.message("x");
    expect(t.actions.length).toBe(before); // READ stays armed: no act sent
    t.feed("data"); // and reading goes on
    expect(t.actions.at(-1)).toBe("read_pending");
  });

  it('"close" from messageReceived closes the connection', () => {
    const t = connect(Lines);
    t.message(atom("close"));
    expect(t.closed).toBe(true);
    expect(t.lost).toEqual({ reason: undefined });
  });

  it("the default messageReceived drops the message and goes on", () => {
    class Plain extends Protocol {
      dataReceived(): Action {
        return "continue";
      }
    }
    const warn = jest.spyOn(console, "warn").mockImplementation(() => {});
    const t = connect(Plain);
    t.message("lost");
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/no messageReceived/));
    warn.mockRestore();
    expect(t.closed).toBe(false);
  });

  it("this.ref is {reactor_conn, ContextPid, ConnId}, and round-trips", () => {
    const t = connect(Lines);
    const ref = t.protocol.ref;
    expect(ref).toBeInstanceOf(Tuple);
    expect(ref.elements[0]).toBe(atom("reactor_conn"));
    expect(ref.elements[1]).toBeInstanceOf(Pid);
    expect(ref.elements[2]).toBe(1);
    const back = decodeTerm(encodeTerm(ref)) as Tuple;
    expect((back.elements[1] as Pid).equals(ref.elements[1])).toBe(true);
    expect(encodeTerm(back)).toEqual(encodeTerm(ref));
  });
});

describe("a connection that does not keep up", () => {
  it("queues messages while a handler is pending, and delivers them in order after", async () => {
    const t = connect(Lines);
    t.feed("hold");
    t.message("one").message("two");
    expect(t.protocol.got).toEqual([]);
    expect(t.stats().messages_queued).toBe(2);
    t.protocol.hold!();
    await t.settle();
    expect(t.take()).toBe("one\ntwo\n");
    expect(t.stats().messages_queued).toBe(0);
  });

  it("queues behind a messageReceived that is pending", async () => {
    const t = connect(Lines);
    t.message(atom("wait")).message("after");
    expect(t.protocol.got).toEqual([atom("wait")]);
    t.protocol.hold!();
    await t.settle();
    expect(t.protocol.got).toEqual([atom("wait"), Buffer.from("after")]);
  });

  it("past max_queued_messages the connection is destroyed with EMESSAGEOVERFLOW", () => {
    const t = connect(Lines, { maxQueuedMessages: 3 });
    t.feed("hold");
    t.message("1").message("2").message("3");
    expect(t.closed).toBe(false);
    t.message("4");
    expect(t.closed).toBe(true);
    expect(t.lost?.reason).toBeInstanceOf(ReactorError);
    expect((t.lost?.reason as ReactorError).code).toBe("EMESSAGEOVERFLOW");
    expect(t.actions.at(-1)).toBe("close");
    // the 3 that waited and the 1 past the bound: none delivered, all counted
    expect(t.stats()).toMatchObject({ messages_delivered: 0, messages_queued: 0, sent_to_ended: 4 });
    t.message("5"); // after its end: dropped, counted
    expect(t.stats().sent_to_ended).toBe(5);
  });

  it("queues while writeBuffer is over write_high_water, and delivers once it drains", () => {
    const t = connect(Lines, { writeHighWater: 8 });
    t.slowPeer(0);
    t.message("0123456789"); // 11 bytes stay in writeBuffer: over the high water
    expect(t.protocol.writeBuffer.length).toBe(11);
    t.message("next");
    expect(t.protocol.got).toHaveLength(1);
    expect(t.stats().messages_queued).toBe(1);
    t.drain();
    expect(t.take()).toBe("0123456789\nnext\n");
    expect(t.protocol.got).toHaveLength(2);
    expect(t.actions.at(-1)).toBe("read_pending");
  });
});

describe("write() from outside a callback", () => {
  class Quiet extends Protocol {
    dataReceived(): Action {
      return "continue";
    }
  }

  it("writes what the kernel takes now and returns true", () => {
    const t = connect(Quiet);
    const n = t.actions.length;
    expect(t.protocol.write("tick\n")).toBe(true);
    expect(t.take()).toBe("tick\n");
    expect(t.actions.length).toBe(n); // nothing left: nothing armed
  });

  it("queues the rest, arms WRITE, and writeReady sends it; false as Node's socket.write", async () => {
    const t = connect(Quiet);
    t.slowPeer(2);
    expect(t.protocol.write("abcdef")).toBe(false);
    expect(t.take()).toBe("ab");
    expect(t.protocol.writeBuffer.length).toBe(4);
    expect(t.actions.at(-1)).toBe("write_pending");
    expect(t.protocol.write("gh")).toBe(false); // behind what waits, in order
    t.drain();
    expect(t.take()).toBe("cdefgh");
    expect(t.actions.at(-1)).toBe("read_pending");
  });

  it("from a timer", async () => {
    class Ticker extends Protocol {
      connectionMade(fd: number, info: ClientInfo): Action {
        super.connectionMade(fd, info);
        setTimeout(() => this.write("tick"), 1);
        return "read_pending";
      }
      dataReceived(): Action {
        return "continue";
      }
    }
    const t = connect(Ticker);
    t.slowPeer(1);
    await new Promise((r) => setTimeout(r, 10));
    expect(t.take()).toBe("t");
    expect(t.actions.at(-1)).toBe("write_pending");
    t.drain();
    expect(t.take()).toBe("ick");
  });

  it("after the connection ended, write() returns false and join() does nothing: a timer does not throw", () => {
    const t = connect(Lines);
    t.feed("join room");
    t.closeFromErlang();
    expect(t.protocol.write("late")).toBe(false);
    expect(() => t.protocol.join("other")).not.toThrow();
    expect(() => t.protocol.leave("room")).not.toThrow();
    expect(() => t.protocol.join("")).toThrow(RangeError); // a bad name is still the caller's error
  });

  it("from a Promise", async () => {
    const t = connect(Quiet);
    t.slowPeer(2);
    await Promise.resolve().then(() => t.protocol.write("later"));
    expect(t.take()).toBe("la");
    expect(t.actions.at(-1)).toBe("write_pending");
    t.drain();
    expect(t.take()).toBe("ter");
    expect(t.actions.at(-1)).toBe("read_pending");
  });

  it("while reading is paused: WRITE is armed, READ is not armed after it", () => {
    const t = connect(Quiet);
    t.protocol.pauseReading();
    t.slowPeer(1);
    expect(t.protocol.write("ab")).toBe(false);
    expect(t.actions.at(-1)).toBe("write_pending");
    const n = t.actions.length;
    t.drain();
    expect(t.take()).toBe("ab");
    expect(t.actions.length).toBe(n); // written, and nothing armed: reading is paused
    t.protocol.resumeReading();
    expect(t.actions.at(-1)).toBe("read_pending");
  });

  it("in a callback, bytes left waiting go before the next read", () => {
    class Writer extends Protocol {
      dataReceived(d: Buffer): Action {
        this.write(d);
        return "read_pending";
      }
    }
    const t = connect(Writer);
    t.slowPeer(1).feed("xyz");
    expect(t.take()).toBe("x");
    expect(t.actions.at(-1)).toBe("write_pending"); // not read_pending: "yz" waits
    t.drain();
    expect(t.take()).toBe("yz");
    expect(t.actions.at(-1)).toBe("read_pending");
  });

  it("from another connection's callback, in the engine", () => {
    const io = new MemoryFds();
    const sink = new RecordingSink();
    const protocols = new ProtocolTable();
    const all: Protocol[] = [];
    class Relay extends Protocol {
      constructor() {
        super();
        all.push(this);
      }
      dataReceived(d: Buffer): Action {
        for (const p of all) if (p !== this) p.write(d);
        return "continue";
      }
    }
    protocols.setProtocolFactory(Relay);
    const r = new Reactor(io, sink, protocols, {});
    r.handoff(1, 10, {});
    r.handoff(2, 11, {});
    io.fd(11).room = 3;
    io.feed(10, "relayed");
    r.readReady(1);
    expect(io.written(11)).toBe("rel");
    expect(sink.acts).toContainEqual([2, "write_pending"]);
    io.fd(11).room = undefined;
    r.writeReady(2);
    expect(io.written(11)).toBe("relayed");
    expect(sink.acts.at(-1)).toEqual([2, "read_pending"]);
    r.dispose();
  });
});

describe("groups", () => {
  it("join and leave are told to Erlang; a publish reaches members only", () => {
    const t = connect(Lines);
    t.feed("join room");
    expect([...t.groups]).toEqual(["room"]);
    t.publish("room", "hi").publish("other", "not for us");
    expect(t.take()).toBe("hi\n");
    t.feed("join room"); // twice is once
    t.feed("leave room");
    t.publish("room", "gone");
    expect(t.take()).toBe("");
    expect(t.groupLog).toEqual([
      ["join", "room"],
      ["leave", "room"],
    ]);
    t.feed("leave room"); // not in it: nothing
    expect(t.groupLog).toHaveLength(2);
  });

  it("join()'s Promise resolves when Erlang says the context joined, or when the connection leaves first", async () => {
    const told: string[] = [];
    const g = new Groups({ joined: (id, gr) => told.push(`join ${id} ${gr}`), left: (id, gr) => told.push(`leave ${id} ${gr}`) });
    const c7 = { id: 7 } as Connection;
    const state = (p: Promise<void>) => Promise.race([p.then(() => "resolved"), new Promise((r) => setImmediate(() => r("pending")))]);
    const a = g.join(c7, Buffer.from("room"));
    expect(await state(a)).toBe("pending");
    expect(await state(g.join(c7, Buffer.from("room")))).toBe("pending"); // twice is once: the same wait
    g.joinedOnErlang(7, Buffer.from("other"));
    expect(await state(a)).toBe("pending");
    g.joinedOnErlang(7, Buffer.from("room"));
    expect(await state(a)).toBe("resolved");
    expect(await state(g.join(c7, Buffer.from("room")))).toBe("resolved"); // in it, acknowledged
    const b = g.join(c7, Buffer.from("gone"));
    g.leaveAll(c7); // it ended: nothing to wait for
    expect(await state(b)).toBe("resolved");
    expect(told).toEqual(["join 7 room", "join 7 gone", "leave 7 room", "leave 7 gone"]);
    // the harness acknowledges at once, as a context does
    const t = connect(Lines);
    await expect(t.protocol.join("x")).resolves.toBeUndefined();
  });

  it("a connection that ends leaves every group at once, and gets nothing after", () => {
    const t = connect(Lines);
    t.feed("join a").feed("join b");
    t.message(atom("close"));
    expect(t.groups.size).toBe(0);
    expect(t.groupLog.slice(2).map(([k]) => k)).toEqual(["leave", "leave"]);
    t.publish("a", "late");
    expect(t.protocol.got).toEqual([atom("close")]);
  });

  it("names are 1 to 255 bytes, a connection is in at most 1024 groups", () => {
    const t = connect(Lines);
    const p = t.protocol;
    expect(() => p.join("")).toThrow(RangeError);
    expect(() => p.join("x".repeat(256))).toThrow(/1 to 255 bytes/);
    expect(() => p.join(42 as unknown as string)).toThrow(TypeError);
    p.join(Buffer.from([0xff, 0x00])); // any bytes
    for (let i = 0; i < 1023; i++) p.join(`g${i}`);
    expect(() => p.join("one more")).toThrow(/at most 1024 groups/);
    t.publish(Buffer.from([0xff, 0x00]), "bytes");
    expect(t.take()).toBe("bytes\n");
  });

  it("one publish reaches every member connection of the context", () => {
    const io = new MemoryFds();
    const sink = new RecordingSink();
    const protocols = new ProtocolTable();
    protocols.setProtocolFactory(Lines);
    const opts: ReactorOptions = {};
    const r = new Reactor(io, sink, protocols, opts);
    for (let id = 1; id <= 4; id++) {
      r.handoff(id, 10 + id, {});
      if (id !== 3) (protocols.getProtocol(10 + id) as Lines).join("room");
    }
    expect(sink.groups.filter(([, k]) => k === "join")).toHaveLength(3);
    r.publish(Buffer.from("room"), Buffer.from("all"));
    expect([1, 2, 3, 4].map((id) => io.written(10 + id))).toEqual(["all\n", "all\n", "", "all\n"]);
    r.message(9, Buffer.from("nobody")); // no such connection: counted
    expect(r.stats().sent_to_ended).toBe(1);
    r.dispose();
  });
});

describe("beam.publish, on the harness's stub", () => {
  class Chat extends Protocol {
    dataReceived(d: Buffer): Action {
      const [cmd, group, text] = d.toString().split(" ");
      if (cmd === "join") this.join(group);
      else beam.publish(group, tuple(atom("line"), text, this.ref));
      return "continue";
    }
    messageReceived(term: Term): Action {
      const [, text] = (term as Tuple).elements;
      this.write(`${(text as Buffer).toString()}\n`);
      return "continue";
    }
  }

  it("is recorded as Erlang gets it; delivered back, it reaches the members", () => {
    const stub = stubBeam();
    try {
      const a = connect(Chat);
      const b = connect(Chat);
      a.feed("join room");
      b.feed("say room hello");
      expect(stub.published).toHaveLength(1);
      const { group, message } = stub.published[0];
      expect(group).toBe("room");
      const [tag, text, ref] = (message as Tuple).elements;
      expect([tag, text]).toEqual([atom("line"), Buffer.from("hello")]); // a string crossed as a binary
      expect(encodeTerm(ref)).toEqual(encodeTerm(b.protocol.ref));
      // what Erlang does with it: every member gets it
      a.publish(group, message);
      b.publish(group, message);
      expect([a.take(), b.take()]).toEqual(["hello\n", ""]);
    } finally {
      stub.restore();
    }
  });

  it("checks the group and the term at the call site", () => {
    const stub = stubBeam();
    try {
      expect(() => beam.publish("", 1)).toThrow(RangeError);
      expect(() => beam.publish("room", () => 1)).toThrow(TypeError);
      expect(stub.published).toEqual([]);
    } finally {
      stub.restore();
    }
    expect(() => beam.publish("room", 1)).toThrow(/needs a context/);
  });
});

