// An fd that lives in memory, behind the same Io the addon gives the engine:
// erlang-reactor/testing runs a connection over one, and the engine's own
// tests run theirs over several. It behaves as a non-blocking socket does:
// reads return what the peer sent (-1 when nothing is there, 0 at EOF),
// writes take what the peer has room for, a write after the end is EPIPE.
// Other errors a socket reports for one call come from the queues of
// scripted failures (`failNext`).
import type { Datagram, Io, SocketAddress, SocketOption } from "./addon";

/** A datagram with its sender or receiver. */
export interface MemoryDatagram {
  data: Buffer;
  addr: string;
  port: number;
}

/** The calls of an fd that can be made to fail, as `failNext` names them. */
export type MemoryFdCall = "writev" | "recvFrom" | "sendTo";

/** The fd in memory: what the peer sent, what it received, how much it takes.
 * The `fd` argument of each call is ignored: one MemoryFd is one fd. */
export class MemoryFd implements Io {
  /** What reads return, oldest first: bytes (a read takes at most one chunk,
   * and leaves the rest of it for the next), the peer's EOF (stays: every
   * later read sees it too), or an error the next read throws (once). */
  inbox: (Buffer | "eof" | Error)[] = [];
  /** datagrams recvFrom returns, oldest first */
  datagramsIn: MemoryDatagram[] = [];
  /** each write's bytes, in order */
  received: Buffer[] = [];
  /** datagrams sendTo sent, in order */
  datagramsOut: MemoryDatagram[] = [];
  /** bytes the peer still takes before it stops reading (undefined: all) */
  room: number | undefined;
  closed = false;
  shutWrite = false;
  /** the socket options set on it, as getsockopt would read them back */
  readonly options: Partial<Record<SocketOption, number>> = {};
  /** what getsockname and getpeername would say (unset: not an IP socket) */
  local: SocketAddress | undefined;
  peer: SocketAddress | undefined;
  /** Errors the next calls of each kind throw instead of doing anything,
   * oldest first, each once; the call after them works again. They stand for
   * what a socket reports for one call and survives: sendTo's EMSGSIZE or
   * EHOSTUNREACH, a connected datagram socket's ECONNREFUSED (an ICMP port
   * unreachable) from recvFrom or writev; readInto's go in `inbox`. Give
   * them the addon's shape: an Error with `code`, `errno` and `syscall`. A
   * recvFrom error waiting makes the fd readable, as a socket error does. */
  readonly failNext: Record<MemoryFdCall, Error[]> = { writev: [], recvFrom: [], sendTo: [] };

  /** A read would find something (bytes, EOF, an error, a datagram). */
  get readable(): boolean {
    return this.inbox.length > 0 || this.datagramsIn.length > 0 || this.failNext.recvFrom.length > 0;
  }
  /** A write would take at least a byte. */
  get writable(): boolean {
    return this.room === undefined || this.room > 0;
  }
  readInto(_fd: number, buf: Buffer, off: number, len: number): number {
    const next = this.inbox[0];
    if (next === undefined) return -1;
    if (next === "eof") return 0; // EOF stays: every later read sees it too
    if (next instanceof Error) {
      this.inbox.shift();
      throw next;
    }
    const n = Math.min(len, next.length);
    next.copy(buf, off, 0, n);
    if (n === next.length) this.inbox.shift();
    else this.inbox[0] = next.subarray(n);
    return n;
  }
  writev(_fd: number, bufs: Uint8Array[]): number {
    this.throwScripted("writev");
    if (this.closed || this.shutWrite) throw Object.assign(new Error("EPIPE: broken pipe"), { code: "EPIPE", errno: -32, syscall: "writev" });
    let n = 0;
    for (const b of bufs) {
      const take = this.room === undefined ? b.length : Math.min(b.length, this.room - n);
      if (take <= 0) break;
      this.received.push(Buffer.from(b.subarray(0, take)));
      n += take;
      if (take < b.length) break;
    }
    if (this.room !== undefined) this.room -= n;
    return n;
  }
  write(fd: number, buf: Uint8Array, offset: number, length: number): number {
    return this.writev(fd, [buf.subarray(offset, offset + length)]);
  }
  shutdown(_fd: number, how: 0 | 1 | 2): void {
    if (how !== 0) this.shutWrite = true;
  }
  close(): void {
    this.closed = true;
  }
  recvFrom(_fd: number, buf: Buffer, off: number, len: number): Datagram | null {
    this.throwScripted("recvFrom");
    const d = this.datagramsIn.shift();
    if (!d) return null;
    const n = Math.min(len, d.data.length);
    d.data.copy(buf, off, 0, n);
    return { n, size: d.data.length, addr: d.addr, port: d.port };
  }
  sendTo(_fd: number, data: Uint8Array, addr: string, port: number): number {
    this.throwScripted("sendTo");
    if (!this.writable) return -1;
    this.datagramsOut.push({ data: Buffer.from(data), addr, port });
    return data.length;
  }
  setSocketOption(_fd: number, name: SocketOption, value: number): void {
    this.options[name] = value;
  }
  getSocketOption(_fd: number, name: SocketOption): number {
    return this.options[name] ?? 0;
  }
  socketAddress(_fd: number, peer: boolean): SocketAddress | null {
    return (peer ? this.peer : this.local) ?? null;
  }
  private throwScripted(call: MemoryFdCall): void {
    const e = this.failNext[call].shift();
    if (e) throw e;
  }
}
