// examples/resp.ts through erlang-reactor/testing: the engine's own dispatch
// over an fd in memory, requests whole, split anywhere and pipelined.
import { connect } from "erlang-reactor/testing";
import Resp, { execute } from "../../examples/resp";

const cmd = (...args: string[]) => `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");

describe("examples/resp.ts", () => {
  beforeEach(() => execute([Buffer.from("FLUSHALL")]));

  it("answers PING, SET, GET, INCR, DEL as Redis does", () => {
    const t = connect(Resp);
    t.feed(cmd("PING"));
    expect(t.take()).toBe("+PONG\r\n");
    t.feed(cmd("SET", "k", "hello world"));
    expect(t.take()).toBe("+OK\r\n");
    t.feed(cmd("GET", "k") + cmd("GET", "missing"));
    expect(t.take()).toBe("$11\r\nhello world\r\n$-1\r\n");
    t.feed(cmd("INCR", "n") + cmd("INCR", "n") + cmd("DEL", "n", "k", "none"));
    expect(t.take()).toBe(":1\r\n:2\r\n:2\r\n");
    t.feed("PING\r\n"); // inline, as redis-cli sends when typed
    expect(t.take()).toBe("+PONG\r\n");
    t.feed(cmd("CONFIG", "GET", "appendonly"));
    expect(t.take()).toBe("*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    t.feed(cmd("NOPE"));
    expect(t.take()).toBe("-ERR unknown command 'nope'\r\n");
    expect(t.closed).toBe(false);
  });

  it("gives the same answers however the requests are cut", () => {
    const reqs = cmd("SET", "key:1", "x".repeat(100)) + cmd("GET", "key:1") + cmd("PING", "again");
    const want = "+OK\r\n$100\r\n" + "x".repeat(100) + "\r\n$5\r\nagain\r\n";
    for (let cut = 1; cut < reqs.length; cut += 7) {
      const t = connect(Resp);
      t.feed(reqs, { at: [cut] });
      expect(t.take()).toBe(want);
    }
    const byte = connect(Resp);
    byte.feed(reqs, { every: 1 });
    expect(byte.take()).toBe(want);
  });

  it("keeps what it stored when the read buffer is reused", () => {
    const t = connect(Resp);
    t.feed(cmd("SET", "a", "first"));
    t.feed(cmd("SET", "b", "XXXXX")); // the same bytes of a reused read buffer
    t.feed(cmd("GET", "a"));
    expect(t.take()).toBe("+OK\r\n+OK\r\n$5\r\nfirst\r\n");
  });

  it("closes on a protocol error, saying why", () => {
    const t = connect(Resp);
    t.feed("*1\r\n+PING\r\n");
    expect(t.take()).toBe("-ERR Protocol error: expected '$', got '+'\r\n");
    expect(t.closed).toBe(true);
    const huge = connect(Resp);
    huge.feed("*99999999999\r\n");
    expect(huge.take()).toMatch(/^-ERR Protocol error: bad multibulk length/);
  });
});
