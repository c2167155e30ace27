// HTTP/1.1 with keep-alive: Content-Length bodies, pipelined requests, and
// Connection: close. Routes: GET / (hello), POST /echo (the body back),
// anything else 404. A request's head must arrive whole within
// `header_timeout` ms (10 s; a listener may set it in its client info), so a
// client that trickles it byte by byte is closed, as slowloris defenses do.
import { Protocol, Action, ClientInfo } from "erlang-reactor";

const MAX_HEAD = 64 * 1024;
const MAX_BODY = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const HEADER_TIMEOUT = 10_000;

interface Request {
  method: string;
  target: string;
  version: string;
  headers: Map<string, string>;
  body: Buffer;
}

export default class Http extends Protocol {
  private unparsed: Buffer = EMPTY;
  private closeAfterWrite = false;
  private headerTimeout = HEADER_TIMEOUT;
  /** a request has begun and its head is not complete: the deadline runs */
  private waitingForHead = false;

  connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    const t = info["header_timeout"];
    if (typeof t === "number" && t > 0) this.headerTimeout = t;
    return "read_pending";
  }

  dataReceived(data: Buffer): Action {
    this.unparsed = this.unparsed.length ? Buffer.concat([this.unparsed, data]) : data;
    while (!this.closeAfterWrite) {
      const req = this.parse();
      if (!req) break;
      this.respond(req);
    }
    // The clock starts at a request's first byte and stops when its head is in.
    const waiting = this.unparsed.length > 0 && this.unparsed.indexOf("\r\n\r\n") < 0;
    if (waiting !== this.waitingForHead) this.setDeadline(waiting ? this.headerTimeout : 0);
    this.waitingForHead = waiting;
    return this.writeBuffer.length ? "write_pending" : "continue";
  }

  writeReady(): Action {
    this.flush();
    if (this.writeBuffer.length) return "continue";
    return this.closeAfterWrite ? "close" : "read_pending";
  }

  /** One complete request off the front of `unparsed`, or null if there is none yet. */
  private parse(): Request | null {
    const end = this.unparsed.indexOf("\r\n\r\n");
    if (end < 0) {
      if (this.unparsed.length > MAX_HEAD) this.fail(431, "Request Header Fields Too Large");
      return null;
    }
    const lines = this.unparsed.subarray(0, end).toString("latin1").split("\r\n");
    const [method, target, version] = lines[0].split(" ");
    if (!method || !target || !/^HTTP\/1\.[01]$/.test(version ?? "")) {
      this.fail(400, "Bad Request");
      return null;
    }
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get("content-length") ?? "0");
    if (!Number.isInteger(length) || length < 0 || length > MAX_BODY) {
      this.fail(400, "Bad Request");
      return null;
    }
    if (this.unparsed.length < end + 4 + length) return null;
    const body = this.unparsed.subarray(end + 4, end + 4 + length);
    this.unparsed = this.unparsed.subarray(end + 4 + length);
    return { method, target, version, headers, body };
  }

  private respond(req: Request): void {
    const conn = req.headers.get("connection")?.toLowerCase();
    const keepAlive = req.version === "HTTP/1.1" ? conn !== "close" : conn === "keep-alive";
    if (!keepAlive) this.closeAfterWrite = true;
    if (req.method === "GET" && req.target === "/") {
      this.send(200, "OK", Buffer.from("Hello from TypeScript on the BEAM!\n"), keepAlive);
    } else if (req.method === "POST" && req.target === "/echo") {
      this.send(200, "OK", req.body, keepAlive);
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
