// RESP: a small Redis-compatible server, enough for redis-cli and
// redis-benchmark's PING, SET, GET, INCR, DEL and friends. One keyspace per
// context (module state is per Node process), values as Buffers.
//
// Requests are RESP arrays of bulk strings (what clients send) or inline
// commands ("PING\r\n"); a request split across reads waits for the rest, and
// pipelined requests are answered in order.
import { Protocol, Action } from "erlang-reactor";

const MAX_BULK = 512 * 1024 * 1024;
const MAX_ARGS = 1024 * 1024;
const MAX_INLINE = 64 * 1024;
const CRLF = Buffer.from("\r\n");
const OK = Buffer.from("+OK\r\n");
const PONG = Buffer.from("+PONG\r\n");
const NIL = Buffer.from("$-1\r\n");

const store = new Map<string, Buffer>();

class ProtocolError extends Error {}

/** One parsed request, or undefined when more bytes are needed. */
function parse(buf: Buffer, at: number): { args: Buffer[]; next: number } | undefined {
  if (at >= buf.length) return undefined;
  if (buf[at] !== 0x2a /* '*' */) {
    const eol = buf.indexOf(CRLF, at);
    if (eol < 0) {
      if (buf.length - at > MAX_INLINE) throw new ProtocolError("inline request too long");
      return undefined;
    }
    const args = buf
      .subarray(at, eol)
      .toString("latin1")
      .split(" ")
      .filter((a) => a.length > 0)
      .map((a) => Buffer.from(a, "latin1"));
    return { args, next: eol + 2 };
  }
  const head = readLine(buf, at);
  if (!head) return undefined;
  const n = decimal(head.text.slice(1));
  if (!Number.isInteger(n) || n < 0 || n > MAX_ARGS) throw new ProtocolError("bad multibulk length");
  const args: Buffer[] = [];
  let pos = head.next;
  for (let i = 0; i < n; i++) {
    const line = readLine(buf, pos);
    if (!line) return undefined;
    if (line.text[0] !== "$") throw new ProtocolError(`expected '$', got '${line.text[0]}'`);
    const len = decimal(line.text.slice(1));
    if (!Number.isInteger(len) || len < 0 || len > MAX_BULK) throw new ProtocolError("bad bulk length");
    if (buf.length < line.next + len + 2) return undefined;
    args.push(buf.subarray(line.next, line.next + len));
    pos = line.next + len + 2;
  }
  return { args, next: pos };
}

/** An integer as Redis's string2ll reads it: "0", or an optional "-" then
 * decimal digits without a leading zero ("-0" is refused, as string2ll
 * refuses it). Number() would also take "0x5", "+5", "5e0", "5.0", " 5" and
 * "-0", and read a length a proxy in front reads otherwise. */
function decimal(s: string): number {
  return /^(0|-?[1-9][0-9]{0,15})$/.test(s) ? Number(s) : NaN;
}

function readLine(buf: Buffer, at: number): { text: string; next: number } | undefined {
  const eol = buf.indexOf(CRLF, at);
  if (eol < 0) {
    if (buf.length - at > MAX_INLINE) throw new ProtocolError("header line too long");
    return undefined;
  }
  return { text: buf.toString("latin1", at, eol), next: eol + 2 };
}

const bulk = (v: Buffer): Buffer[] => [Buffer.from(`$${v.length}\r\n`), v, CRLF];
const int = (n: number): Buffer => Buffer.from(`:${n}\r\n`);
const err = (msg: string): Buffer => Buffer.from(`-ERR ${msg}\r\n`);

export function execute(args: Buffer[]): Buffer[] {
  const cmd = args[0]?.toString("latin1").toUpperCase() ?? "";
  const key = args[1]?.toString("latin1");
  switch (cmd) {
    case "PING":
      return args.length > 1 ? bulk(args[1]) : [PONG];
    case "ECHO":
      return args.length === 2 ? bulk(args[1]) : [err("wrong number of arguments for 'echo' command")];
    case "SET":
      if (args.length < 3 || key === undefined) return [err("wrong number of arguments for 'set' command")];
      store.set(key, Buffer.from(args[2])); // a copy: args are views of the read buffer
      return [OK];
    case "GET": {
      if (args.length !== 2 || key === undefined) return [err("wrong number of arguments for 'get' command")];
      const v = store.get(key);
      return v ? bulk(v) : [NIL];
    }
    case "DEL":
      return [int(args.slice(1).filter((k) => store.delete(k.toString("latin1"))).length)];
    case "EXISTS":
      return [int(args.slice(1).filter((k) => store.has(k.toString("latin1"))).length)];
    case "INCR": {
      if (args.length !== 2 || key === undefined) return [err("wrong number of arguments for 'incr' command")];
      const n = decimal(store.get(key)?.toString("latin1") ?? "0");
      if (!Number.isSafeInteger(n)) return [err("value is not an integer or out of range")];
      store.set(key, Buffer.from(String(n + 1)));
      return [int(n + 1)];
    }
    case "DBSIZE":
      return [int(store.size)];
    case "FLUSHALL":
    case "FLUSHDB":
      store.clear();
      return [OK];
    case "CONFIG": {
      // CONFIG GET save / appendonly: redis-benchmark asks; nothing is persisted
      const name = args[2]?.toString("latin1").toLowerCase();
      const value = name === "save" ? "" : name === "appendonly" ? "no" : undefined;
      if (args[1]?.toString("latin1").toUpperCase() !== "GET" || value === undefined) return [Buffer.from("*0\r\n")];
      return [Buffer.from("*2\r\n"), ...bulk(Buffer.from(name!)), ...bulk(Buffer.from(value))];
    }
    default:
      return [err(`unknown command '${cmd.toLowerCase()}'`)];
  }
}

export default class Resp extends Protocol {
  private unparsed: Buffer | undefined;

  dataReceived(data: Buffer): Action {
    // `data` is a view of the read buffer: whatever waits for more is copied
    const buf = this.unparsed ? Buffer.concat([this.unparsed, data]) : data;
    this.unparsed = undefined;
    let at = 0;
    try {
      for (;;) {
        const req = parse(buf, at);
        if (!req) break;
        at = req.next;
        if (req.args.length) for (const b of execute(req.args)) this.writeBuffer.push(b);
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.writeBuffer.push(err(`Protocol error: ${e.message}`));
      this.flush();
      return "close";
    }
    if (at < buf.length) this.unparsed = Buffer.from(buf.subarray(at));
    return this.writeBuffer.length ? "write_pending" : "read_pending";
  }
}
