// The bottom of every stack: the fd itself, as a byte stream (TCP, Unix
// stream sockets, pipes) or as datagrams (UDP, Unix datagram sockets). Reads
// land in the engine's slab; each call here is one non-blocking syscall.
import type { Io } from "./addon";
import type { BatchAction } from "./types";
import { isSystemError } from "./errors";
import { DATAGRAM_MAX, MAX_DATAGRAMS_PER_EVENT, MAX_READS_PER_EVENT, READ_MIN, READ_START, SLAB_MIN } from "./limits";
import type { Transport, Upstream } from "./transport";

/** Bytes moved, over every connection of an engine. */
export interface Traffic {
  bytesIn: number;
  bytesOut: number;
}

/** Where reads land. Protocols get views of it; a slab is never reused, only
 * replaced, so a view a protocol keeps stays valid. */
export class Slab {
  private buf = Buffer.allocUnsafe(SLAB_MIN);
  private off = 0;

  /** Room for `want` bytes at `offset` of `buffer`. */
  room(want: number): { buffer: Buffer; offset: number } {
    if (this.buf.length - this.off < want) {
      this.buf = Buffer.allocUnsafe(Math.max(SLAB_MIN, want));
      this.off = 0;
    }
    return { buffer: this.buf, offset: this.off };
  }

  /** The `n` bytes just read into room(): a view, and the room moves past it. */
  take(n: number): Buffer {
    const view = this.buf.subarray(this.off, this.off + n);
    this.off += (n + 7) & ~7;
    return view;
  }
}

/** What the fd transports share: the fd, its writes, its end. */
abstract class FdTransport implements Transport {
  up!: Upstream;
  readonly opensLater = false;
  readonly settlesLater = false;
  readonly unsent = 0;
  private closed = false;

  constructor(
    protected readonly io: Io,
    readonly fd: number,
    protected readonly slab: Slab,
    protected readonly traffic: Traffic,
    /** the most bytes one read takes */
    protected readonly readSize: number,
  ) {}

  abstract readable(): void;

  /** A read now, outside any event (Protocol.read): null when nothing is there. */
  readNow(size: number): Buffer | null {
    const buf = Buffer.allocUnsafe(size);
    const n = this.syscall(() => this.io.readInto(this.fd, buf, 0, size));
    if (n < 0) return null;
    this.traffic.bytesIn += n;
    return buf.subarray(0, n);
  }

  flush(): boolean {
    return true; // nothing of its own is ever queued
  }

  writev(bufs: Uint8Array[]): number {
    const n = this.syscall(() => this.io.writev(this.fd, bufs));
    this.traffic.bytesOut += n;
    return n;
  }

  sendTo(data: Uint8Array, addr: string, port: number): number {
    const n = this.syscall(() => this.io.sendTo(this.fd, data, addr, port));
    if (n > 0) this.traffic.bytesOut += n;
    return n;
  }

  shutdownWrite(): void {
    this.syscall(() => (this.io.shutdown(this.fd, 1), 0));
  }

  interest(want: BatchAction): BatchAction {
    return want;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Shut down before close: the peer sees the end now, even while Erlang's
    // copy (or a user's dup) of the fd is still open.
    try {
      this.io.shutdown(this.fd, 2);
    } catch {
      /* already reset, or not a socket */
    }
    try {
      this.io.close(this.fd);
    } catch {
      /* EBADF: already gone */
    }
  }

  /** A broken fd (EPIPE, ECONNRESET) ends the connection wherever the call
   * came from, a handler or a timer; the error still reaches the caller. */
  private syscall(f: () => number): number {
    try {
      return f();
    } catch (e) {
      if (isSystemError(e) && !this.closed) this.up.error(e);
      throw e;
    }
  }
}

export class StreamTransport extends FdTransport {
  // Reads adapt, as Netty's receive buffers do: a read that fills the buffer
  // doubles the next (up to readSize), a small one halves it, so streams move
  // in large syscalls and small messages do not claim large slabs.
  private hint = READ_START;

  readable(): void {
    for (let reads = 1; ; reads++) {
      const want = Math.min(this.hint, this.readSize);
      const { buffer, offset } = this.slab.room(want);
      let n: number;
      try {
        n = this.io.readInto(this.fd, buffer, offset, want);
      } catch (e) {
        this.up.error(e as Error);
        return;
      }
      if (n < 0) return; // nothing (more) there
      if (n === 0) {
        this.up.end();
        return;
      }
      this.traffic.bytesIn += n;
      if (n === want) this.hint = Math.min(want * 2, this.readSize);
      else if (n < want / 8) this.hint = Math.max(want / 2, READ_MIN);
      this.up.data(this.slab.take(n));
      // A read that filled the buffer may have left more behind: read again
      // now rather than after a round trip through Erlang, a few times at most
      // so that one busy connection cannot starve the others.
      if (n < want || reads >= MAX_READS_PER_EVENT || !this.up.wantsMore()) return;
    }
  }
}

export class DatagramTransport extends FdTransport {
  readable(): void {
    const want = Math.min(this.readSize, DATAGRAM_MAX);
    for (let i = 0; i < MAX_DATAGRAMS_PER_EVENT; i++) {
      const { buffer, offset } = this.slab.room(want);
      let d;
      try {
        d = this.io.recvFrom(this.fd, buffer, offset, want);
      } catch (e) {
        this.up.error(e as Error);
        return;
      }
      if (!d) return;
      const from = { addr: d.addr, port: d.port };
      if (d.size > d.n) {
        this.up.dropped?.(d.size, from); // never a silently cut datagram
        continue;
      }
      this.traffic.bytesIn += d.n;
      this.up.data(this.slab.take(d.n), from);
      if (!this.up.wantsMore()) return;
    }
  }
}
