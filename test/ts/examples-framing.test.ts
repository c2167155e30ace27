// Issue 18 item 8: the examples are what users copy, so they frame their
// protocols as the field's standards do. Text is decoded across reads; HTTP
// message framing is RFC 9112 §6's. End to end:
// reactor_faults_replayed_SUITE:line_utf8_split_across_reads, http_framing_refused,
// http_chunked_bodies.
import { connect } from "erlang-reactor/testing";
import Line from "../../examples/line";
import Http from "../../examples/http";
import Upcase from "../../examples/elixir/priv/upcase";
import Greeter from "../../examples/starter/priv/greeter";
import Resp from "../../examples/resp";

/** Every way to cut `s` in two. */
const cuts = (s: string | Buffer) => Array.from({ length: Buffer.byteLength(s) - 1 }, (_, i) => i + 1);

describe("text examples decode UTF-8 across reads", () => {
  const text = "ECHO café 😀 日本\n";

  it("line.ts: a character cut anywhere comes back whole", () => {
    for (const at of cuts(text)) {
      const t = connect(Line);
      t.take();
      t.feed(text, { at: [at] });
      expect(t.take()).toBe("café 😀 日本\r\n");
    }
    const byte = connect(Line);
    byte.take();
    byte.feed(text, { every: 1 });
    expect(byte.take()).toBe("café 😀 日本\r\n");
  });

  it("the starter's greeter.ts and the Elixir example's upcase.ts too", () => {
    for (const at of cuts("NAME José\n")) {
      const g = connect(Greeter);
      g.take();
      g.feed("NAME José\n", { at: [at] });
      expect(g.take()).toBe("HELLO José\n");
    }
    const u = connect(Upcase);
    u.feed("crème brûlée\n", { every: 1 });
    expect(u.take()).toBe("CRÈME BRÛLÉE\n");
  });
});

/** The status codes of every response in `raw`, in order. */
const statuses = (raw: string) => [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

describe("examples/http.ts frames messages as RFC 9112 §6 says", () => {
  const refused: [string, string, number][] = [
    ["a hex length", "Content-Length: 0x5", 400],
    ["a signed length", "Content-Length: +5", 400],
    ["an exponent", "Content-Length: 5e0", 400],
    ["a fraction", "Content-Length: 5.0", 400],
    ["a negative length", "Content-Length: -1", 400],
    ["a list of lengths", "Content-Length: 5, 5", 400],
    ["two lengths", "Content-Length: 5\r\nContent-Length: 6", 400],
    ["a length beside chunked", "Content-Length: 5\r\nTransfer-Encoding: chunked", 400],
    ["a final coding that is not chunked", "Transfer-Encoding: gzip", 400],
    ["chunked twice", "Transfer-Encoding: chunked, chunked", 400],
    ["a coding it does not decode", "Transfer-Encoding: gzip, chunked", 501],
    ["whitespace before the colon", "Transfer-Encoding : chunked", 400],
    ["a folded line", "X-Long: a\r\n b", 400],
    ["a bare LF in a field", "X-A: a\nContent-Length: 5", 400],
    ["a length past 16 MiB", "Content-Length: 99999999999", 413],
    ["a length past 16 MiB behind leading zeros", "Content-Length: 000000000099999999999", 413],
    ["a second Host", "Host: y", 400],
  ];

  it.each(refused)("refuses %s with its status and a close; nothing after it is read", (_what, field, status) => {
    const t = connect(Http);
    t.feed(`POST /echo HTTP/1.1\r\nHost: x\r\n${field}\r\n\r\nhello` + SMUGGLED);
    const out = t.take();
    expect(statuses(out)).toEqual([status]);
    expect(out).toContain("Connection: close");
    expect(t.closed).toBe(true);
  });

  // Found on s18-try: RFC 9112 §3.2, §2.3 and §8.6 read loosely.
  it.each([
    ["no Host in HTTP/1.1", "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400],
    ["two Host lines", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nHost: a\r\n\r\nhello", 400],
    ["two Host lines in HTTP/1.0", "POST /echo HTTP/1.0\r\nHost: a\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello", 400],
    ["a Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400],
    ["a Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400],
    ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505],
    ["HTTP/0.9", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505],
    ["HTTP/3.1", "GET / HTTP/3.1\r\nHost: x\r\n\r\n", 505],
  ])("refuses %s with its status and a close", (_what, req, status) => {
    const t = connect(Http);
    t.feed(req + SMUGGLED);
    const out = t.take();
    expect(statuses(out)).toEqual([status]);
    expect(out).toContain("Connection: close");
    expect(t.closed).toBe(true);
  });

  it.each([
    ["an empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"],
    ["a Host with a port", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"],
    ["an IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"],
    ["HTTP/1.0 without Host", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"],
  ])("serves %s", (_what, req) => {
    const t = connect(Http);
    t.feed(req);
    expect(statuses(t.take())).toEqual([200]);
    expect(t.closed).toBe(false);
  });

  it("serves HTTP/1.2 and HTTP/1.9 as HTTP/1.1: keep-alive by default, Connection: close honoured", () => {
    const t = connect(Http);
    t.feed("GET / HTTP/1.2\r\nHost: x\r\n\r\nGET / HTTP/1.9\r\nHost: x\r\nConnection: close\r\n\r\n");
    const out = t.take();
    expect(statuses(out)).toEqual([200, 200]);
    expect(out.match(/Connection: (\S+)\r\n/g)).toEqual(["Connection: keep-alive\r\n", "Connection: close\r\n"]);
    expect(t.closed).toBe(true);
  });

  it("reads a Content-Length with leading zeros as the digits it is: 0000000005 is 5", () => {
    for (const cl of ["0000000005", "00000000000000000000000005", "05"]) {
      const t = connect(Http);
      t.feed(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${cl}\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n`);
      const out = t.take();
      expect([cl, statuses(out)]).toEqual([cl, [200, 200]]);
      expect(out).toContain("Content-Length: 5\r\nConnection: keep-alive\r\n\r\nhello");
    }
    const zero = connect(Http);
    zero.feed("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0000\r\n\r\n");
    expect(zero.take()).toContain("Content-Length: 0\r\n");
  });

  it("refuses Transfer-Encoding in HTTP/1.0", () => {
    const t = connect(Http);
    t.feed("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect(statuses(t.take())).toEqual([400]);
    expect(t.closed).toBe(true);
  });

  it.each([
    ["a hex prefix", "0x5\r\nhello\r\n0\r\n\r\n"],
    ["a signed size", "+5\r\nhello\r\n0\r\n\r\n"],
    ["no size", "\r\nhello\r\n0\r\n\r\n"],
    ["data longer than its size", "3\r\nhello\r\n0\r\n\r\n"],
    ["a control character in an extension", "5;x=\x01\r\nhello\r\n0\r\n\r\n"],
    ["a malformed trailer", "0\r\nbad trailer\r\n\r\n"],
  ])("refuses a chunked body with %s", (_what, body) => {
    const t = connect(Http);
    t.feed(`POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}` + SMUGGLED);
    expect(statuses(t.take())).toEqual([400]);
    expect(t.closed).toBe(true);
  });

  const chunked =
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;name=value\r\nhello\r\n1\r\n \r\n00000006\r\nchunks\r\n0\r\nX-Checksum: 1\r\n\r\n" +
    "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

  it("decodes a chunked body (extensions, leading zeros, trailer) and serves the next request after it", () => {
    const t = connect(Http);
    t.feed(chunked);
    const out = t.take();
    expect(statuses(out)).toEqual([200, 200]);
    expect(out).toContain("Content-Length: 12\r\nConnection: keep-alive\r\n\r\nhello chunks");
    expect(out).toContain("Hello from TypeScript on the BEAM!");
    expect(t.closed).toBe(false);
  });

  it("decodes it the same however the network cuts it", () => {
    const want = connect(Http).feed(chunked).take();
    for (const at of cuts(chunked)) {
      const t = connect(Http);
      t.feed(chunked, { at: [at] });
      expect(t.take()).toBe(want);
    }
    expect(connect(Http).feed(chunked, { every: 1 }).take()).toBe(want);
  });

  it("keeps Content-Length bodies, keep-alive and pipelining", () => {
    const t = connect(Http);
    t.feed("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /nope HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    const out = t.take();
    expect(statuses(out)).toEqual([200, 404, 200]);
    expect(out).toContain("\r\n\r\nhello");
    expect(t.closed).toBe(true); // HTTP/1.0 without keep-alive
  });

  it("says 100 Continue to a client that waits for it, once its head is in", () => {
    const t = connect(Http);
    t.feed("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    expect(t.take()).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    t.feed("body");
    expect(statuses(t.take())).toEqual([200]);
  });
});

describe("examples/resp.ts reads lengths as Redis does: decimal digits only", () => {
  it.each([
    "*0x1\r\n$4\r\nPING\r\n",
    "*+1\r\n$4\r\nPING\r\n",
    "*1\r\n$0x4\r\nPING\r\n",
    "*1\r\n$4.0\r\nPING\r\n",
    "*1\r\n$4e0\r\nPING\r\n",
    // string2ll refuses "-0" (found on s18-try: it was read as a length of 0)
    "*1\r\n$-0\r\n\r\n",
    "*-0\r\n",
    "*1\r\n$-1\r\n",
    "*1\r\n$04\r\nPING\r\n",
  ])(
    "refuses %j",
    (req) => {
      const t = connect(Resp);
      t.feed(req);
      expect(t.take()).toMatch(/^-ERR Protocol error: bad (multibulk|bulk) length\r\n$/);
      expect(t.closed).toBe(true);
    },
  );
});

describe("examples/line.ts bounds a line, whole or still coming", () => {
  const long = "a".repeat(8193);

  it("answers the complete lines of a read that ends in an over-long partial line, then refuses it", () => {
    const t = connect(Line);
    t.take();
    t.feed(`PING\nECHO before\nECHO ${long}`);
    expect(t.take()).toBe("PONG\r\nbefore\r\nERR line too long\r\n");
    expect(t.closed).toBe(true);
  });

  it("refuses an over-long line that arrives whole in one read, after the lines before it; nothing after it", () => {
    const t = connect(Line);
    t.take();
    t.feed(`PING\r\n${long}\r\nPING\r\n`);
    expect(t.take()).toBe("PONG\r\nERR line too long\r\n");
    expect(t.closed).toBe(true);
  });

  it("the same however the network cuts it", () => {
    const input = `PING\n${long}\nPING\n`;
    for (const at of [3, 5, 100, 8197, 8199, 8200]) {
      const t = connect(Line);
      t.take();
      t.feed(input, { at: [at] });
      expect([at, t.take()]).toEqual([at, "PONG\r\nERR line too long\r\n"]);
      expect(t.closed).toBe(true);
    }
  });

  it("takes a line of MAX_LINE characters, \\r aside", () => {
    const t = connect(Line);
    t.take();
    const arg = "b".repeat(8192 - 5);
    t.feed(`ECHO ${arg}\r\nPING\n`);
    expect(t.take()).toBe(`${arg}\r\nPONG\r\n`);
    expect(t.closed).toBe(false);
  });
});

describe("the starter's greeter.ts bounds a line too", () => {
  const long = "N".repeat(1025);

  it("answers the lines before an over-long one, whole or still coming, then refuses it and closes", () => {
    for (const tail of [`${long}\nNAME Bo\n`, long]) {
      const t = connect(Greeter);
      t.take();
      t.feed(`NAME Ada\n${tail}`);
      expect(t.take()).toBe("HELLO Ada\nERR line too long\n");
      expect(t.closed).toBe(true);
    }
  });
});
