// What protocol modules extend: the TypeScript port of the reactor Protocol.
import type { ClientInfo } from "./codec";

/** What a handler tells the reactor to do next. */
export type Action = "continue" | "write_pending" | "read_pending" | "close";

export const ACTIONS: ReadonlySet<string> = new Set<Action>(["continue", "write_pending", "read_pending", "close"]);

export type { ClientInfo };

/** The runtime's side of one connection, as a Protocol sees it. */
export interface ConnectionHandle {
  read(size: number): Buffer | null;
  writev(bufs: Uint8Array[]): number;
  close(reason?: Error): void;
}

/** Outgoing bytes not yet taken by the kernel. Holds references, not copies:
 * the Buffers handed to dataReceived are never reused, so echoing them is free. */
export class WriteBuffer {
  private chunks: Uint8Array[] = [];
  private head = 0; // bytes of chunks[0] already written
  private size = 0;

  get length(): number {
    return this.size;
  }

  /** Queue bytes (a string is UTF-8). Returns the new length. */
  push(data: Uint8Array | string): number {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    if (b.length > 0) {
      this.chunks.push(b);
      this.size += b.length;
    }
    return this.size;
  }

  /** Same as push; the name the Python reactor's bytearray had. */
  extend(data: Uint8Array | string): number {
    return this.push(data);
  }

  /** Up to `max` chunks from the front, ready for writev. */
  peek(max = 64): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.chunks.length && i < max; i++) {
      out.push(i === 0 && this.head ? this.chunks[0].subarray(this.head) : this.chunks[i]);
    }
    return out;
  }

  /** Drop n bytes from the front. */
  consume(n: number): void {
    if (n > this.size) throw new RangeError(`consume(${n}) exceeds ${this.size} buffered bytes`);
    this.size -= n;
    while (n > 0) {
      const left = this.chunks[0].length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.size = 0;
  }

  /** A copy of everything queued (for tests and small protocols). */
  toBuffer(): Buffer {
    return Buffer.concat(this.peek(Infinity));
  }
}

const kConn = Symbol("connection");

export abstract class Protocol {
  /** Node's copy of the connection's fd. */
  fd = -1;
  clientInfo: ClientInfo = {};
  readonly writeBuffer = new WriteBuffer();
  closed = false;
  /** @internal */
  [kConn]?: ConnectionHandle;

  /** Called once when the fd is handed off. May return the first Action
   * (default "read_pending"), e.g. "write_pending" to send a greeting. */
  connectionMade(fd: number, clientInfo: ClientInfo): Action | void {
    this.fd = fd;
    this.clientInfo = clientInfo;
  }

  /** Bytes arrived. `data` is a view over the bytes read, not a copy; it stays
   * valid for as long as it is referenced. */
  abstract dataReceived(data: Buffer): Action | Promise<Action>;

  /** The fd can take bytes. The default flushes writeBuffer and asks to write
   * again until it is empty, then goes back to reading. */
  writeReady(): Action | Promise<Action> {
    this.flush();
    return this.writeBuffer.length > 0 ? "continue" : "read_pending";
  }

  /** The peer closed its side (EOF). Return true to keep the connection open for
   * writing what is left; once the protocol asks to read again it is closed. */
  eofReceived(): boolean | void {
    return false;
  }

  /** Called exactly once when the connection ends; `reason` is unset on a clean close. */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  connectionLost(reason?: Error): void {}

  /** Read up to `size` bytes now: a Buffer, an empty Buffer at EOF, or null when
   * nothing is available. */
  read(size = 65536): Buffer | null {
    return this.handle().read(size);
  }

  /** Write now, without blocking. Returns the bytes the kernel took (maybe 0). */
  write(data: Uint8Array | string): number {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    return b.length === 0 ? 0 : this.handle().writev([b]);
  }

  /** Write as much of writeBuffer as the kernel takes now. Returns bytes written. */
  flush(): number {
    let total = 0;
    while (this.writeBuffer.length > 0) {
      const n = this.handle().writev(this.writeBuffer.peek());
      if (n === 0) break;
      this.writeBuffer.consume(n);
      total += n;
    }
    return total;
  }

  /** Close the connection now (from a timer, a promise, anywhere). */
  close(): void {
    this[kConn]?.close();
  }

  private handle(): ConnectionHandle {
    const h = this[kConn];
    if (!h || this.closed) throw Object.assign(new Error("connection is closed"), { code: "EBADF" });
    return h;
  }
}

/** @internal */
export function bind(p: Protocol, h: ConnectionHandle | undefined): void {
  p[kConn] = h;
}
