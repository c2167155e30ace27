// erlang-reactor/testing, on the examples: the harness runs them in the real
// engine over an fd in memory.
import { Action, Protocol } from "erlang-reactor";
import { connect } from "erlang-reactor/testing";
import Echo from "../../examples/echo";
import Http from "../../examples/http";

const GET = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

describe("erlang-reactor/testing", () => {
  it("echoes what is fed, whole or split at every offset", () => {
    const t = connect(Echo);
    t.feed("hello");
    expect(t.take()).toBe("hello");
    t.feed("split me", { every: 1 });
    expect(t.take()).toBe("split me");
    expect(t.actions.every((a) => a === "read_pending")).toBe(true);
  });

  it("answers HTTP requests cut anywhere, keep-alive and pipelined", () => {
    for (let cut = 1; cut < GET.length; cut++) {
      const t = connect(Http);
      t.feed(GET + GET, { at: [cut, GET.length + cut] });
      const out = t.take();
      expect(out.match(/HTTP\/1.1 200 OK/g)).toHaveLength(2);
      expect(t.closed).toBe(false);
    }
  });

  it("a slow peer makes writes partial, then WRITE finishes them", () => {
    const t = connect(Echo);
    t.slowPeer(3).feed("abcdefgh");
    expect(t.take()).toBe("abc");
    expect(t.actions.at(-1)).toBe("write_pending");
    expect(t.protocol.writeBuffer.length).toBe(5);
    t.drain();
    expect(t.take()).toBe("defgh");
    expect(t.actions.at(-1)).toBe("read_pending");
  });

  it("EOF closes once what is queued is written, and connectionLost runs once", () => {
    const t = connect(Echo);
    t.slowPeer(2).feed("bye").end();
    expect(t.closed).toBe(false); // "e" still queued
    t.drain();
    expect(t.written().toString()).toBe("bye");
    expect(t.closed).toBe(true);
    expect(t.lost).toEqual({ reason: undefined });
    expect(t.peerSawEnd).toBe(true);
  });

  it("an invalid action ends the connection with a clear error", () => {
    class Typo extends Protocol {
      dataReceived(): Action {
        return "write_pendin" as Action;
      }
    }
    const t = connect(Typo);
    t.feed("x");
    expect(t.lost?.reason).toMatchObject({ code: "EINVALIDACTION" });
    expect(t.logs[0]?.text).toMatch(/dataReceived returned "write_pendin"/);
  });

  it("async handlers pause the connection; time is the harness's to move", async () => {
    class Slow extends Protocol {
      async dataReceived(d: Buffer): Promise<Action> {
        await Promise.resolve();
        this.writeBuffer.push(d);
        return "write_pending";
      }
    }
    const t = connect(Slow);
    t.feed("a");
    expect(t.take()).toBe("");
    await t.settle();
    expect(t.take()).toBe("a");

    class Hang extends Protocol {
      dataReceived(): Promise<Action> {
        return new Promise(() => {});
      }
    }
    const h = connect(Hang, { callbackTimeout: 5000 });
    h.feed("x");
    await h.advance(4999);
    expect(h.closed).toBe(false);
    await h.advance(1);
    expect(h.lost?.reason).toMatchObject({ code: "ECALLBACKTIMEOUT" });
  });

  it("idle connections close after idle_timeout of the harness's time", async () => {
    const t = connect(Echo, { idleTimeout: 1000 });
    await t.advance(800);
    t.feed("still here");
    await t.advance(800);
    expect(t.closed).toBe(false);
    await t.advance(1000);
    expect(t.lost?.reason).toMatchObject({ code: "EIDLETIMEOUT" });
  });

  it("keeps harnesses apart: several protocols in one process", () => {
    const a = connect(Echo);
    const b = connect(Http);
    a.feed("one");
    b.feed(GET);
    expect(a.take()).toBe("one");
    expect(b.take()).toMatch(/^HTTP\/1.1 200/);
  });

  it("reads a PROXY header first when asked to", () => {
    let seen: unknown;
    class Who extends Protocol {
      connectionMade(fd: number, info: Protocol["clientInfo"]): void {
        super.connectionMade(fd, info);
        seen = info.addr;
      }
      dataReceived(): Action {
        return "continue";
      }
    }
    const t = connect(Who, { proxyProtocol: true });
    t.feed("PROXY TCP4 203.0.113.9 10.0.0.1 1234 80\r\n");
    expect(seen).toBe("203.0.113.9");
  });

  it("HTTP closes a client that trickles its header past header_timeout", async () => {
    const info = { type: "tcp" as const, addr: "10.1.1.1", port: 1, header_timeout: 1000 };
    const slow = connect(Http, { clientInfo: info });
    await slow.advance(5000); // silent: no request begun, no deadline
    expect(slow.closed).toBe(false);
    for (const ch of "GET / HTTP/1.1\r\nHo") {
      slow.feed(ch);
      await slow.advance(50); // a byte every 50 ms: 18 bytes, 900 ms
    }
    await slow.advance(99);
    expect(slow.closed).toBe(false);
    await slow.advance(1); // 1000 ms after its first byte
    expect(slow.lost?.reason).toMatchObject({ code: "EDEADLINE" });

    const fine = connect(Http, { clientInfo: info });
    fine.feed(GET, { every: 5 });
    expect(fine.take()).toMatch(/^HTTP\/1.1 200/);
    await fine.advance(5000); // the head came whole: the deadline was cleared
    expect(fine.closed).toBe(false);
  });

  it("an idle timer restarts with data and asks timedOut, which may go on", async () => {
    const fired: string[] = [];
    class Patient extends Protocol {
      connectionMade(): Action {
        this.setIdleTimeout(500);
        return "read_pending";
      }
      dataReceived(): Action {
        return "continue";
      }
      timedOut(kind: "idle" | "deadline"): Action | void {
        fired.push(kind);
        if (fired.length === 1) return "continue"; // once more
      }
    }
    const t = connect(Patient);
    await t.advance(400);
    t.feed("x");
    await t.advance(400); // 400 ms since the data
    expect(fired).toEqual([]);
    await t.advance(100);
    expect(fired).toEqual(["idle"]);
    expect(t.closed).toBe(false);
    await t.advance(500);
    expect(fired).toEqual(["idle", "idle"]);
    expect(t.lost?.reason).toMatchObject({ code: "EIDLETIMEOUT" });
  });

  it("tells a refused handoff apart", () => {
    class Broken extends Protocol {
      connectionMade(): void {
        throw new Error("no");
      }
      dataReceived(): Action {
        return "continue";
      }
    }
    const t = connect(Broken);
    expect(t.refused).toBe("connection_made_failed");
    expect(t.closed).toBe(true);
  });
});
