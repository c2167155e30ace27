// A stream handler's Socket in the real engine, over an fd in memory
// (erlang-reactor/testing): what Node's http and a net.Server's listener
// see of it, and what it arms.
import * as http from "http";
import * as net from "net";
import { connect } from "../../ts/testing";
import { connectionOf } from "../../ts/stream";
import type { Socket } from "../../ts/socket";

/** A net.Server whose 'connection' hands the Socket to the test. */
function server(opts: net.ServerOpts = {}, onConnection: (s: Socket) => void = () => {}) {
  const sockets: Socket[] = [];
  const srv = net.createServer(opts, (s) => {
    sockets.push(s as unknown as Socket);
    onConnection(s as unknown as Socket);
  });
  return { srv, sockets };
}

/** What a socket emitted, in order. */
function record(s: Socket): string[] {
  const events: string[] = [];
  for (const e of ["end", "finish", "close", "drain", "timeout"]) s.on(e, () => events.push(e));
  s.on("error", (err: NodeJS.ErrnoException) => events.push(`error:${err.code ?? err.message}`));
  return events;
}

describe("a stream handler's Socket", () => {
  /** A connection's flowing Socket, and the events recorded on it. */
  const flowing = () => {
    const { srv, sockets } = server();
    const t = connect(srv);
    const s = sockets[0];
    const events = record(s);
    s.resume();
    return { t, s, events };
  };

  it("serves Node's http: keep-alive, pipelining, a chunked body, 100-continue", async () => {
    const t = connect(
      http.createServer((req, res) => {
        let n = 0;
        req.on("data", (d: Buffer) => (n += d.length));
        req.on("end", () => res.end(`${req.method} ${req.url} ${n}`));
      }),
    );
    t.feed("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    await t.settle();
    expect(t.take()).toMatch(/^HTTP\/1.1 200 OK\r\n[\s\S]*GET \/a 0$/);
    // two requests in one read: both answered, in order
    t.feed("GET /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    await t.settle();
    const two = t.take();
    expect(two.indexOf("GET /b 0")).toBeGreaterThan(0);
    expect(two.indexOf("POST /c 3")).toBeGreaterThan(two.indexOf("GET /b 0"));
    t.feed("PUT /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", { every: 7 });
    t.feed("6\r\n world\r\n0\r\n\r\n");
    await t.settle();
    expect(t.take()).toMatch(/PUT \/d 11$/);
    t.feed("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    await t.settle();
    expect(t.take()).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    t.feed("ok");
    await t.settle();
    expect(t.take()).toMatch(/POST \/e 2$/);
    expect(t.closed).toBe(false);
  });

  it("gives net.Socket's addresses from the client info, and applies setNoDelay and setKeepAlive", () => {
    const { srv, sockets } = server();
    const t = connect(srv, {
      clientInfo: { type: "tcp", addr: "192.0.2.7", port: 5000, family: "inet", local_addr: "10.0.0.1", local_port: 80 },
    });
    const s = sockets[0];
    expect([s.remoteAddress, s.remotePort, s.remoteFamily, s.localAddress, s.localPort]).toEqual([
      "192.0.2.7",
      5000,
      "IPv4",
      "10.0.0.1",
      80,
    ]);
    expect(s.server).toBe(srv);
    expect(s.encrypted).toBeUndefined();
    expect(s.getPeerCertificate()).toBeNull();
    expect(s.readyState).toBe("open");
    expect(s.setNoDelay(false)).toBe(s);
    expect(t.socketOptions.nodelay).toBe(0);
    s.setNoDelay();
    s.setKeepAlive(true, 30_500);
    expect(t.socketOptions).toMatchObject({ nodelay: 1, keepalive: 1, keepidle: 30 });
  });

  it("counts bytes both ways, and writes from a timer, a Promise and another connection (item 4)", async () => {
    const { srv, sockets } = server();
    const a = connect(srv);
    const b = connect(srv);
    const [sa, sb] = sockets;
    a.feed("12345");
    await a.settle();
    expect(sa.bytesRead).toBe(5);
    setTimeout(() => sa.write("from a timer;"), 1);
    await new Promise((r) => setTimeout(r, 5));
    await Promise.resolve().then(() => sa.write("from a promise;"));
    sb.on("data", (d: Buffer) => sa.write(`from b: ${d};`)); // b's callback writes to a
    b.feed("hi");
    await a.settle();
    expect(a.take()).toBe("from a timer;from a promise;from b: hi;");
    expect(sa.bytesWritten).toBe(Buffer.byteLength("from a timer;from a promise;from b: hi;"));
  });

  it("stops reading while its readable side is full, and reads again when it is read", async () => {
    const { srv, sockets } = server({ highWaterMark: 16 }, (s) => s.pause());
    const t = connect(srv, { readSize: 8 });
    const s = sockets[0];
    t.feed("x".repeat(8));
    expect(t.actions).toEqual(["read_pending", "read_pending"]); // the handoff's, then again
    t.feed("y".repeat(8)).feed("z".repeat(8));
    await t.settle();
    // 16 bytes fill it: READ is not armed again, the third read never happens
    expect(t.actions).toEqual(["read_pending", "read_pending"]);
    expect(s.readableLength).toBe(16);
    expect(s.bytesRead).toBe(16);
    const got: string[] = [];
    s.on("data", (d: Buffer) => got.push(d.toString()));
    s.resume();
    await t.settle();
    expect(got.join("")).toBe("x".repeat(8) + "y".repeat(8) + "z".repeat(8));
    expect(t.actions.at(-1)).toBe("read_pending");
  });

  it("returns false from write() when the peer is slow, arms WRITE, and 'drain' follows", async () => {
    const { srv, sockets } = server({ highWaterMark: 1024 });
    const t = connect(srv);
    const s = sockets[0];
    const events = record(s);
    t.slowPeer(100);
    expect(s.write(Buffer.alloc(4096, 1))).toBe(false);
    await t.settle();
    expect(t.actions.at(-1)).toBe("write_pending");
    expect(t.written().length).toBe(100);
    expect(events).not.toContain("drain");
    t.drain();
    await t.settle();
    expect(t.written().length).toBe(4096);
    expect(events).toContain("drain");
    expect(t.actions.at(-1)).toBe("read_pending");
  });

  it("end(): the FIN after the last byte, then 'end', 'finish' and 'close' once the peer ends too", async () => {
    const { t, s, events } = flowing();
    s.end("bye");
    await t.settle();
    expect(t.take()).toBe("bye");
    expect(t.peerSawEnd).toBe(true);
    expect(t.closed).toBe(false); // the peer may still send: it is read
    t.end();
    await t.settle();
    expect(events).toEqual(["finish", "end", "close"]);
    expect(t.lost).toEqual({ reason: undefined });
  });

  it("without allowHalfOpen, ends its side when the peer ends", async () => {
    const { srv, sockets } = server();
    const t = connect(srv);
    const events = record(sockets[0]);
    sockets[0].resume();
    t.end();
    await t.settle();
    expect(events).toEqual(["end", "finish", "close"]);
    expect(t.lost).toEqual({ reason: undefined });
  });

  it("with allowHalfOpen, writes after the peer's end until it ends its own side", async () => {
    const { srv, sockets } = server({ allowHalfOpen: true });
    const t = connect(srv);
    const s = sockets[0];
    const events = record(s);
    s.resume();
    t.feed("question").end();
    await t.settle();
    expect(events).toEqual(["end"]);
    expect(t.closed).toBe(false);
    setTimeout(() => s.end("answer"), 1);
    await new Promise((r) => setTimeout(r, 5));
    await t.settle();
    expect(t.take()).toBe("answer");
    expect(events).toEqual(["end", "finish", "close"]);
    expect(t.lost).toEqual({ reason: undefined });
  });

  it("destroy(err) ends the connection with err; destroy() closes it cleanly", async () => {
    const { srv, sockets } = server();
    const t = connect(srv);
    const events = record(sockets[0]);
    sockets[0].destroy(Object.assign(new Error("the library gave up"), { code: "EPROTO_LIB" }));
    await t.settle();
    expect(t.lost?.reason?.message).toBe("the library gave up");
    expect(events).toEqual(["error:EPROTO_LIB", "close"]);
    const u = connect(srv);
    const quiet = record(sockets[1]);
    sockets[1].write("queued?");
    sockets[1].destroy();
    await u.settle();
    expect(u.lost).toEqual({ reason: undefined });
    expect(u.peerSawEnd).toBe(true);
    expect(quiet).toEqual(["close"]);
  });

  it("http's Connection: close lingers until the peer's end, nothing unread or not: an early answer to an upload keeps its tail", async () => {
    // 413 at the headers, the body unread: all that came is read (http dumps
    // it), and the kernel holds nothing at the destroy(); the rest of the body
    // is still on its way, and a closed fd would answer it with a reset,
    // which drops what our kernel has not sent yet of the answer
    const t = connect(
      http.createServer((_req, res) => {
        res.writeHead(413, { connection: "close" });
        res.end("too large");
      }),
    );
    t.feed("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + "a".repeat(1000));
    await t.settle();
    expect(t.take()).toMatch(/^HTTP\/1.1 413 Payload Too Large\r\nconnection: close\r\n[\s\S]*too large\r\n0\r\n\r\n$/);
    expect(t.peerSawEnd).toBe(true);
    expect(t.actions.at(-1)).toBe("read_pending"); // lingering: the body's rest is read and dropped
    t.feed("a".repeat(99000));
    await t.settle();
    expect(t.actions).not.toContain("close");
    t.end();
    await t.settle();
    expect(t.actions.at(-1)).toBe("close");
    expect(t.lost).toEqual({ reason: undefined });
    // end(), then destroy() once it finished, as http does, while bytes wait
    // unread (a full readable side): the same lingering read
    const { srv, sockets } = server({ highWaterMark: 4 });
    const u = connect(srv);
    sockets[0].end("bye", () => {
      u.feed("more ").feed("bytes");
      sockets[0].destroy();
    });
    await u.settle();
    expect(u.take()).toBe("bye");
    expect(u.peerSawEnd).toBe(true);
    expect(u.actions.at(-1)).toBe("read_pending");
    u.end();
    await u.settle();
    expect(u.actions.at(-1)).toBe("close");
  });

  it("a request and the peer's end read in one turn: the end comes on a turn of its own, so http answers the request first, as on Node", async () => {
    // a read that fills its buffer is followed by another in the same event,
    // which finds the FIN: on Node each read is a callback of its own, with
    // the data's ticks (the request's 'end') run before the socket's 'end',
    // which would otherwise abort the request unanswered
    const t = connect(
      http.createServer((req, res) => {
        req.resume();
        req.on("end", () => res.end(`${req.method} ${req.url} answered`));
      }),
    );
    t.feed("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    t.end();
    await t.settle();
    expect(t.take()).toMatch(/^HTTP\/1.1 200 OK\r\n[\s\S]*PUT \/upload answered$/);
    expect(t.actions.at(-1)).toBe("close");
    expect(t.lost).toEqual({ reason: undefined });
  });

  it("a peer's reset is its 'error' (ECONNRESET) and the connection's reason", async () => {
    const { srv, sockets } = server();
    const t = connect(srv);
    const events = record(sockets[0]);
    sockets[0].resume();
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", errno: -104, syscall: "read" });
    t.feed("partial bo");
    (t as unknown as { fd: { inbox: unknown[] } }).fd.inbox.push(reset);
    t.feed("");
    await t.settle();
    expect(events).toEqual(["error:ECONNRESET", "close"]);
    expect((t.lost?.reason as NodeJS.ErrnoException).code).toBe("ECONNRESET");
  });

  it("a request sent with the connection is read at the handoff, inside the read: a handler that throws on it ends that connection", async () => {
    const srv = http.createServer((req, res) => {
      if (req.url === "/throw") throw new Error("the handler threw");
      res.end(`at once ${req.url}`);
    });
    const t = connect(srv, { sentBeforeHandoff: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" });
    expect(t.take()).toMatch(/at once \/a$/); // answered in the handoff's turn
    await t.settle();
    expect(t.closed).toBe(false);
    const u = connect(srv, { sentBeforeHandoff: "GET /throw HTTP/1.1\r\nHost: x\r\n\r\n" });
    await u.settle();
    expect(u.lost?.reason?.message).toBe("the handler threw");
  });

  it("bytes read at the handoff wait for an async 'connection' listener's 'data'", async () => {
    const got: string[] = [];
    const srv = net.createServer(async (s) => {
      await new Promise((r) => setTimeout(r, 5)); // an authorization lookup, say
      s.on("data", (d: Buffer) => got.push(d.toString()));
    });
    const t = connect(srv, { sentBeforeHandoff: "first " });
    t.feed("second");
    await new Promise((r) => setTimeout(r, 10));
    await t.settle();
    expect(got.join("")).toBe("first second");
  });

  it("pauseOnConnect: nothing is read, at the handoff or after, until resume(), as net's pauseOnCreate", async () => {
    const { srv, sockets } = server({ pauseOnConnect: true });
    const t = connect(srv, { sentBeforeHandoff: "kept" });
    await t.settle();
    const s = sockets[0];
    expect(s.bytesRead).toBe(0);
    const got: string[] = [];
    s.on("data", (d: Buffer) => got.push(d.toString()));
    await t.settle();
    expect(got).toEqual([]); // a 'data' listener resumes a paused stream only when it was not paused by hand
    s.resume();
    await t.settle();
    t.feed(" and more");
    await t.settle();
    expect(got.join("")).toBe("kept and more");
  });

  it("a 'connection' listener that throws ends that connection with its error", () => {
    const t = connect(
      net.createServer(() => {
        throw new Error("handler bug");
      }),
    );
    expect(t.refused).toBe("connection_made_failed");
    expect(t.lost?.reason?.message).toBe("handler bug");
    expect(t.logs.some((l) => l.level === "error" && /handler bug/.test(l.text))).toBe(true);
  });

  it("setTimeout: 'timeout' after that long without reads or writes, once until there is activity", async () => {
    const { t, s, events } = flowing();
    s.setTimeout(1000);
    await t.advance(600);
    t.feed("x");
    await t.advance(600);
    s.write("y");
    await t.advance(900);
    expect(events).toEqual([]);
    await t.advance(200);
    expect(events).toEqual(["timeout"]);
    await t.advance(5000);
    expect(events).toEqual(["timeout"]); // once, until activity
    t.feed("z");
    await t.advance(1000);
    expect(events).toEqual(["timeout", "timeout"]);
    s.setTimeout(0);
    t.feed("w");
    await t.advance(5000);
    expect(events).toEqual(["timeout", "timeout"]);
    expect(t.closed).toBe(false);
  });

  it("setTimeout: each call counts from itself, whatever timer an earlier one left pending", async () => {
    const { t, s, events } = flowing();
    // what http does on every keep-alive request: 0 at its start, keepAliveTimeout at its end
    s.setTimeout(1000);
    await t.advance(400);
    s.setTimeout(0);
    await t.advance(800); // the first count's end passes: nothing
    expect(events).toEqual([]);
    s.setTimeout(1000); // at 1200: due at 2200
    await t.advance(999);
    expect(events).toEqual([]);
    await t.advance(1);
    expect(events).toEqual(["timeout"]);
    // a shorter count than the pending timer's is not late
    s.setTimeout(5000);
    s.setTimeout(100);
    await t.advance(100);
    expect(events).toEqual(["timeout", "timeout"]);
  });
});

describe("a stream handler's server", () => {
  it("is told 'listening' once, so Node's http enforces its headersTimeout on a slow client", async () => {
    const opts = { headersTimeout: 100, requestTimeout: 150, connectionsCheckingInterval: 20 };
    const srv = http.createServer(opts as http.ServerOptions, (_req, res) => res.end("late"));
    let listening = 0;
    srv.on("listening", () => listening++);
    const t = connect(srv);
    const u = connect(srv); // the same server: told once
    expect(listening).toBe(1);
    t.feed("GET / HTTP/1.1\r\nHost: x\r\n"); // and never the rest
    await new Promise((r) => setTimeout(r, 400));
    await t.settle();
    expect(t.take()).toMatch(/^HTTP\/1.1 408 Request Timeout\r\n/);
    expect((t.lost?.reason as NodeJS.ErrnoException | undefined)?.code).toBe("ERR_HTTP_REQUEST_TIMEOUT");
    expect(u.closed).toBe(true); // as on Node: no request head within headersTimeout either
    srv.close();
  });

  it("talks with Erlang through connectionOf(socket): a ref, groups, and 'message' for what Erlang sends", () => {
    const { srv, sockets } = server({}, (s) => {
      s.on("message", (term: unknown) => s.write(`got ${String(term)}\n`));
      connectionOf(s).join("room");
    });
    const t = connect(srv as never);
    expect([...t.groups]).toEqual(["room"]);
    expect(connectionOf(sockets[0]).ref).toBeDefined();
    t.message("hello").publish("room", 42);
    expect(t.take()).toBe("got hello\ngot 42\n");
    expect(() => connectionOf({} as Socket)).toThrow(TypeError);
    srv.close();
  });

  it("a socket nobody reads still ends at the peer's end, as net's does (a write-only server)", async () => {
    const closes: unknown[] = [];
    const { srv } = server({}, (s) => {
      s.on("close", (hadError: boolean) => closes.push(hadError));
      s.end("2026-12-01T00:00:00Z\n"); // never reads
    });
    const t = connect(srv as never);
    expect(t.take()).toBe("2026-12-01T00:00:00Z\n");
    expect(t.peerSawEnd).toBe(true);
    t.end();
    await new Promise((r) => setImmediate(r));
    expect(t.closed).toBe(true);
    expect(closes).toEqual([false]); // 'close' with hadError, as net.Socket's
    srv.close();
  });

  it("'close' says whether it ended with an error; a plain socket has no TLS answers", async () => {
    const closes: unknown[] = [];
    const { srv, sockets } = server({}, (s) => {
      s.on("close", (hadError: boolean) => closes.push(hadError));
      s.on("error", () => undefined);
    });
    const t = connect(srv as never);
    expect(sockets[0].alpnProtocol).toBeUndefined(); // http2 refuses a socket whose alpnProtocol is false
    expect(sockets[0].servername).toBeUndefined();
    expect(sockets[0].encrypted).toBeUndefined();
    sockets[0].destroy(new Error("boom"));
    await new Promise((r) => setImmediate(r));
    expect(t.closed).toBe(true);
    expect(closes).toEqual([true]);
    srv.close();
  });
});

