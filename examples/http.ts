// HTTP/1.1 with keep-alive and pipelined requests. Routes: GET / (hello),
// POST /echo (the body back), anything else 404. A request's head must arrive
// whole within `header_timeout` ms (10 s; a listener may set it in its client
// info), so a client that trickles it byte by byte is closed, as slowloris
// defenses do.
//
// Message framing is RFC 9112's, §6: a body is chunked (Transfer-Encoding,
// decoded here), Content-Length long (1*DIGIT), or empty. Where a server and
// a proxy in front of it could read one request two ways (the request
// smuggling vector), the request is refused with 400 and the connection
// closed: a length that is not 1*DIGIT, two lengths, a length beside a
// Transfer-Encoding, a Transfer-Encoding whose last coding is not chunked or
// in HTTP/1.0, whitespace before a field's colon, a folded line, a CR, LF or
// NUL inside a line, a malformed chunk. A coding other than chunked is
// refused with 501, a body past 16 MiB with 413. So is a request with no
// Host (HTTP/1.1), two Host lines or a Host that is not one (§3.2: 400). An
// HTTP/1.x of a later minor version is served as HTTP/1.1 (§2.3); another
// major version gets 505.
import { Protocol, Action, ClientInfo } from "erlang-reactor";

const MAX_HEAD = 64 * 1024;
const MAX_BODY = 16 * 1024 * 1024;
/** a chunk's size line, extensions included, and the trailer section */
const MAX_CHUNK_LINE = 4096;
const EMPTY = Buffer.alloc(0);
const CRLF = Buffer.from("\r\n");
const HEADER_TIMEOUT = 10_000;

/** RFC 9110 §5.6.2 token: what a method and a field name are made of */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** control characters other than HTAB: never inside a field line (RFC 9110 §5.5) */
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;
const HEX = /^[0-9A-Fa-f]+$/;
/** RFC 9110 §7.2 Host = uri-host [ ":" port ]: an IP-literal or a reg-name
 * (RFC 3986 §3.2.2), maybe empty */
const HOST = /^(\[[0-9A-Za-z:.!$&'()*+,;=\-_~]+\]|[0-9A-Za-z\-._~!$&'()*+,;=%]*)(:[0-9]*)?$/;

interface Head {
  method: string;
  target: string;
  version: string;
  headers: Map<string, string>;
}

/** How far the body of the request being read has come. */
type Body =
  | { framing: "length"; left: number }
  | { framing: "chunked"; step: "size" | "data" | "crlf" | "trailer"; left: number; trailer: number };

/** A request the framing rules refuse: answered with `status`, then closed. */
class Refused extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export default class Http extends Protocol {
  private unparsed: Buffer = EMPTY;
  private closeAfterWrite = false;
  private headerTimeout = HEADER_TIMEOUT;
  /** a request has begun and its head is not complete: the deadline runs */
  private waitingForHead = false;
  /** the request whose body is being read */
  private head: Head | null = null;
  private body: Body = { framing: "length", left: 0 };
  private bodyParts: Buffer[] = [];
  private bodyLength = 0;
  /** the request asked for "100 Continue" before it sends its body */
  private expectsContinue = false;

  connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    const t = info["header_timeout"];
    if (typeof t === "number" && t > 0) this.headerTimeout = t;
    return "read_pending";
  }

  dataReceived(data: Buffer): Action {
    this.unparsed = this.unparsed.length ? Buffer.concat([this.unparsed, data]) : data;
    try {
      while (!this.closeAfterWrite) {
        if (!this.head && !this.readHead()) break;
        if (!this.readBody()) {
          // RFC 9110 §10.1.1: a client that waits is told its body is welcome
          if (this.expectsContinue) this.writeBuffer.push("HTTP/1.1 100 Continue\r\n\r\n");
          this.expectsContinue = false;
          break;
        }
        this.respond(this.head!, Buffer.concat(this.bodyParts, this.bodyLength));
        this.head = null;
        this.bodyParts = [];
        this.bodyLength = 0;
      }
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      this.fail(e.status, e.reason);
    }
    // The clock starts at a request's first byte and stops when its head is in.
    const waiting = !this.closeAfterWrite && !this.head && this.unparsed.length > 0;
    if (waiting !== this.waitingForHead) this.setDeadline(waiting ? this.headerTimeout : 0);
    this.waitingForHead = waiting;
    return this.writeBuffer.length ? "write_pending" : "continue";
  }

  writeReady(): Action {
    this.flush();
    if (this.writeBuffer.length) return "continue";
    return this.closeAfterWrite ? "close" : "read_pending";
  }

  /** The next request's head off the front of `unparsed`: false until it is all there. */
  private readHead(): boolean {
    // RFC 9112 §2.2: empty lines before a request line are ignored
    let start = 0;
    while (this.unparsed.length >= start + 2 && this.unparsed[start] === 13 && this.unparsed[start + 1] === 10) start += 2;
    const end = this.unparsed.indexOf("\r\n\r\n", start);
    if (end < 0 || end - start > MAX_HEAD) {
      if (this.unparsed.length - start > MAX_HEAD) throw new Refused(431, "Request Header Fields Too Large");
      this.unparsed = this.unparsed.subarray(start);
      return false;
    }
    const lines = this.unparsed.subarray(start, end).toString("latin1").split("\r\n");
    this.unparsed = this.unparsed.subarray(end + 4);
    const m = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/.exec(lines[0]);
    if (!m || !TOKEN.test(m[1]) || CTL.test(lines[0])) throw new Refused(400, "Bad Request");
    const [, method, target, major, minor] = m;
    if (major !== "1") throw new Refused(505, "HTTP Version Not Supported");
    // §2.3: a later minor version is processed as the highest one we implement
    const version = minor === "0" ? "HTTP/1.0" : "HTTP/1.1";
    const headers = parseFields(lines.slice(1));
    // §3.2: HTTP/1.1 must name its Host; no request may name two or a bad one
    const host = headers.get("host");
    if ((host === undefined && version === "HTTP/1.1") || (host !== undefined && !HOST.test(host))) {
      throw new Refused(400, "Bad Request");
    }
    this.head = { method, target, version, headers };
    this.body = framing(headers, version);
    this.expectsContinue = version === "HTTP/1.1" && headers.get("expect")?.toLowerCase() === "100-continue";
    return true;
  }

  /** Reads the current request's body from `unparsed`: true once it is complete. */
  private readBody(): boolean {
    const b = this.body;
    if (b.framing === "length") {
      b.left -= this.take(b.left);
      return b.left === 0;
    }
    for (;;) {
      switch (b.step) {
        case "size": {
          const line = this.line();
          if (line === null) return false;
          // chunk-size [ chunk-ext ]: the size is hex digits and nothing else
          const semi = line.indexOf(";");
          const size = (semi < 0 ? line : line.slice(0, semi)).replace(/[ \t]+$/, "");
          if (!HEX.test(size) || CTL.test(line)) throw new Refused(400, "Bad Request");
          const digits = size.replace(/^0+(?=.)/, "");
          b.left = digits.length > 8 ? Infinity : parseInt(digits, 16);
          if (this.bodyLength + b.left > MAX_BODY) throw new Refused(413, "Content Too Large");
          b.step = b.left === 0 ? "trailer" : "data";
          break;
        }
        case "data":
          b.left -= this.take(b.left);
          if (b.left > 0) return false;
          b.step = "crlf";
          break;
        case "crlf":
          if (this.unparsed.length < 2) return false;
          if (this.unparsed[0] !== 13 || this.unparsed[1] !== 10) throw new Refused(400, "Bad Request");
          this.unparsed = this.unparsed.subarray(2);
          b.step = "size";
          break;
        case "trailer": {
          // trailer fields are read and dropped; an empty line ends the message
          const line = this.line();
          if (line === null) return false;
          if (line === "") return true;
          b.trailer += line.length + 2;
          if (b.trailer > MAX_HEAD) throw new Refused(431, "Request Header Fields Too Large");
          parseFields([line]);
          break;
        }
      }
    }
  }

  /** Up to `n` body bytes from `unparsed`; how many. */
  private take(n: number): number {
    const got = Math.min(n, this.unparsed.length);
    if (got > 0) {
      this.bodyParts.push(this.unparsed.subarray(0, got));
      this.bodyLength += got;
      this.unparsed = this.unparsed.subarray(got);
    }
    return got;
  }

  /** One CRLF-ended line of the chunked framing, or null until it is there. */
  private line(): string | null {
    const eol = this.unparsed.indexOf(CRLF);
    if (eol < 0) {
      if (this.unparsed.length > MAX_CHUNK_LINE) throw new Refused(400, "Bad Request");
      return null;
    }
    if (eol > MAX_CHUNK_LINE) throw new Refused(400, "Bad Request");
    const line = this.unparsed.toString("latin1", 0, eol);
    this.unparsed = this.unparsed.subarray(eol + 2);
    return line;
  }

  private respond(req: Head, body: Buffer): void {
    const conn = (req.headers.get("connection") ?? "").toLowerCase().split(",").map((t) => t.trim());
    const keepAlive = req.version === "HTTP/1.1" ? !conn.includes("close") : conn.includes("keep-alive");
    if (!keepAlive) this.closeAfterWrite = true;
    if (req.method === "GET" && req.target === "/") {
      this.send(200, "OK", Buffer.from("Hello from TypeScript on the BEAM!\n"), keepAlive);
    } else if (req.method === "POST" && req.target === "/echo") {
      this.send(200, "OK", body, keepAlive);
    } else {
      this.send(404, "Not Found", Buffer.from(`no route for ${req.method} ${req.target}\n`), keepAlive);
    }
  }

  private send(status: number, reason: string, body: Buffer, keepAlive: boolean): void {
    this.writeBuffer.push(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
        `Connection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`,
    );
    this.writeBuffer.push(body);
  }

  private fail(status: number, reason: string): void {
    this.closeAfterWrite = true;
    this.unparsed = EMPTY;
    this.send(status, reason, Buffer.from(reason + "\n"), false);
  }
}

/** Field lines (RFC 9112 §5): `name: value`, the name a token right before
 * the colon, no folding, no control characters. A field that comes twice is
 * one list, its values joined with ", " (RFC 9110 §5.3); a Host that comes
 * twice is refused (RFC 9112 §3.2), and so is one joined into a list. */
function parseFields(lines: string[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    // §5.1: whitespace before the colon is refused; §5.2: so is a folded line
    if (colon <= 0 || !TOKEN.test(name) || CTL.test(line)) throw new Refused(400, "Bad Request");
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    const had = fields.get(key);
    if (had !== undefined && key === "host") throw new Refused(400, "Bad Request");
    fields.set(key, had === undefined ? value : `${had}, ${value}`);
  }
  return fields;
}

/** How the body is framed (RFC 9112 §6.1, §6.3), or Refused. */
function framing(headers: Map<string, string>, version: string): Body {
  const te = headers.get("transfer-encoding");
  const cl = headers.get("content-length");
  if (te !== undefined) {
    // §6.1: in HTTP/1.0 the framing is faulty; §6.3: both at once is refused
    if (version === "HTTP/1.0" || cl !== undefined) throw new Refused(400, "Bad Request");
    const codings = te
      .toLowerCase()
      .split(",")
      .map((c) => c.trim())
      .filter((c) => c !== "");
    // §6.3: a request whose final coding is not chunked cannot be framed
    if (codings.at(-1) !== "chunked" || codings.indexOf("chunked") !== codings.length - 1) {
      throw new Refused(400, "Bad Request");
    }
    if (codings.length > 1) throw new Refused(501, "Not Implemented"); // gzip, deflate, ...: not decoded here
    return { framing: "chunked", step: "size", left: 0, trailer: 0 };
  }
  if (cl === undefined) return { framing: "length", left: 0 };
  // §8.6: 1*DIGIT, once (a list, even of equal values, is refused); leading
  // zeros are digits like any other: 0000000005 is 5
  if (!/^[0-9]+$/.test(cl)) throw new Refused(400, "Bad Request");
  const digits = cl.replace(/^0+(?=.)/, "");
  const length = digits.length > 9 ? Infinity : Number(digits);
  if (length > MAX_BODY) throw new Refused(413, "Content Too Large");
  return { framing: "length", left: length };
}
