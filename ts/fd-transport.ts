// The bottom of every stack: the fd itself, as a byte stream (TCP, Unix
// stream sockets, pipes) or as datagrams (UDP, Unix datagram sockets). Reads
// land in the engine's slab; each call here is one non-blocking syscall.
import type { Io, SocketAddress, SocketOption } from "./addon";
import type { BatchAction } from "./types";
import type { Peer } from "./protocol";
import { datagramPort, isSystemError } from "./errors";
import { DATAGRAM_MAX, MAX_DATAGRAMS_PER_EVENT, MAX_READS_PER_EVENT, READ_MIN, READ_START, SLAB_MIN } from "./limits";
import type { Transport, Upstream } from "./transport";
import type { Corkable, WriteCork } from "./cork";

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

/** The fd under every layer, as a protocol reaches past them: a read now
 * (Protocol.read), its socket options and addresses. */
export interface RawFd {
  readNow(size: number): Buffer | null;
  /** The last read of the fd took all the kernel held (a short read, or
   * EAGAIN). A READ event sets it false before anything is read: true at the
   * answer means no byte that came before that read is left, and the poller
   * saw what came after as an edge (REACTOR_ACTION_DRAINED). */
  drained: boolean;
  /** false when the fd is no socket that has the option (a Unix socket's
   * TCP_NODELAY, a pipe): nothing changed, as Node ignores it then */
  setSocketOption(name: SocketOption, value: number): boolean;
  socketAddress(peer: boolean): SocketAddress | null;
  /** A socket, not a pipe or a tty: it has a peer, which may speak first,
   * and what that peer sends after our FIN can be read (and dropped, by a
   * lingering close). */
  readonly socket: boolean;
}

/** setsockopt's errors for an fd that has no such option: ignored, as Node ignores them. */
const NO_SUCH_OPTION: ReadonlySet<string> = new Set(["EOPNOTSUPP", "ENOTSUP", "ENOPROTOOPT", "ENOTSOCK", "EINVAL"]);

/** Errors that say the fd itself is unusable: they end the connection on any
 * transport. On a datagram socket every other error concerns one datagram. */
const FD_UNUSABLE: ReadonlySet<string> = new Set(["EBADF", "ENOTSOCK", "EFAULT"]);

/** What the fd transports share: the fd, its writes, its end. */
abstract class FdTransport implements Transport, RawFd {
  up!: Upstream;
  readonly opensLater = false;
  readonly settlesLater = false;
  readonly handshaking = false;
  readonly tlsSocket = undefined;
  abstract readonly datagram: boolean;
  protected closed = false;
  drained = false;
  /** shutdown(SHUT_WR) done: the peer has our FIN */
  private shut = false;
  /** socket options known to hold their value (set here, or by the
   * listener at accept): setting one to it again makes no syscall, as
   * net.Socket's setNoDelay skips one that changes nothing */
  private options: Partial<Record<SocketOption, number>> | undefined;

  constructor(
    protected readonly io: Io,
    readonly fd: number,
    protected readonly slab: Slab,
    protected readonly traffic: Traffic,
    /** the most bytes one read takes */
    protected readonly readSize: number,
    /** RawFd.socket */
    readonly socket = true,
  ) {}

  abstract readable(): void;

  /** A read now, outside any event (Protocol.read): null when nothing is there. */
  readNow(size: number): Buffer | null {
    const buf = Buffer.allocUnsafe(size);
    const n = this.syscall(() => this.io.readInto(this.fd, buf, 0, size), -1);
    this.readGave(n, size);
    if (n < 0) return null;
    this.traffic.bytesIn += n;
    return buf.subarray(0, n);
  }

  /** A stream read of `want` bytes returned `n` (-1: EAGAIN, 0: EOF): it
   * drained the fd when it found nothing or less than it asked for; an EOF
   * is a state that stays readable, not drained. */
  protected readGave(n: number, want: number): void {
    this.drained = n < 0 || (n > 0 && n < want);
  }

  get unsent(): number {
    return 0;
  }

  flush(): boolean {
    return true; // nothing of its own is ever queued
  }

  setSocketOption(name: SocketOption, value: number): boolean {
    if (this.closed) return false;
    if (this.options?.[name] === value) return true;
    try {
      this.io.setSocketOption(this.fd, name, value);
      (this.options ??= {})[name] = value;
      return true;
    } catch (e) {
      if (isSystemError(e) && NO_SUCH_OPTION.has(e.code)) return false;
      throw e;
    }
  }

  socketAddress(peer: boolean): SocketAddress | null {
    return this.closed ? null : this.io.socketAddress(this.fd, peer);
  }

  /** The fd has `name` set to `value` already (the handoff says so). */
  hasOption(name: SocketOption, value: number): void {
    (this.options ??= {})[name] = value;
  }

  /** On a datagram socket a write is one datagram: one that fails is
   * reported and counts as taken (it is gone, as a failed dgram send is). */
  writev(bufs: Uint8Array[]): number {
    const n = this.put(bufs);
    this.traffic.bytesOut += n;
    return n;
  }

  /** One writev now (a write for one buffer): bytes the kernel took. */
  protected put(bufs: Uint8Array[]): number {
    const dropped = this.datagram ? bufs.reduce((n, b) => n + b.length, 0) : 0;
    if (bufs.length === 1) return this.putOne(bufs[0], bufs[0].length, dropped);
    return this.syscall(() => this.io.writev(this.fd, bufs), dropped);
  }

  /** The first `n` bytes of `buf` now: bytes the kernel took. */
  protected putOne(buf: Uint8Array, n: number, dropped = 0): number {
    return this.syscall(() => this.io.write(this.fd, buf, 0, n), dropped);
  }

  /** Bytes sent, -1 when the kernel takes nothing now, 0 for a datagram the
   * kernel refused (reported through datagramError). A port or address that
   * cannot be one throws (errors.ts, datagramPort): never sent elsewhere. */
  sendTo(data: Uint8Array, addr: string, port: number): number {
    const to = datagramPort(addr, port);
    const n = this.syscall(() => this.io.sendTo(this.fd, data, addr, to), 0, { addr, port: to });
    if (n > 0) this.traffic.bytesOut += n;
    return n;
  }

  shutdownWrite(): void {
    if (this.shut) return;
    this.syscall(() => (this.io.shutdown(this.fd, 1), 0), 0);
    this.shut = true;
  }

  get writableFinished(): boolean {
    return this.shut;
  }

  discard(max: number): number {
    if (this.closed || !this.socket || this.datagram) return 0;
    const want = Math.min(max, this.readSize);
    const { buffer, offset } = this.slab.room(want); // overwritten by the next read: dropped
    let n: number;
    try {
      n = this.io.readInto(this.fd, buffer, offset, want);
    } catch {
      this.drained = false;
      return 0; // a reset: the end of the linger too
    }
    this.readGave(n, want);
    if (n > 0) this.traffic.bytesIn += n;
    return n;
  }

  interest(want: BatchAction): BatchAction {
    return want;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Shut down before close: the peer sees the end now, even while Erlang's
    // copy (or a user's dup) of the fd is still open (after shutdownWrite it
    // has seen it).
    try {
      if (!this.shut) this.io.shutdown(this.fd, 2);
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
   * came from, a handler or a timer; the error still reaches the caller. On a
   * datagram socket an error of one datagram goes to datagramError instead
   * and the call returns `dropped`. */
  private syscall(f: () => number, dropped: number, to?: Peer): number {
    try {
      return f();
    } catch (e) {
      if (!isSystemError(e) || this.closed) throw e;
      if (this.oneDatagram(e, to)) return dropped;
      this.up.error(e);
      throw e;
    }
  }

  /** Reports an error that concerns one datagram (`to`: the failed send's
   * destination); false when the error is the fd's. */
  protected oneDatagram(e: Error, to?: Peer): boolean {
    if (!this.datagram || !isSystemError(e) || FD_UNUSABLE.has(e.code) || !this.up.datagramError) return false;
    this.up.datagramError(e, to);
    return true;
  }
}

export class StreamTransport extends FdTransport implements Corkable {
  readonly datagram = false;
  // Reads adapt, as Netty's receive buffers do: a read that fills the buffer
  // doubles the next (up to readSize), a small one halves it, so streams move
  // in large syscalls and small messages do not claim large slabs.
  private hint = READ_START;
  /** bytes read from the connection before its handoff: the first read gives them */
  private preread: Buffer | undefined;
  /** what was written while the slice was corked (cork.ts), copied in order:
   * its first heldBytes bytes */
  private held: Buffer | undefined;
  private heldBytes = 0;
  /** what the kernel did not take of an uncork: it goes before anything else */
  private pending: Uint8Array | undefined;
  /** shutdownWrite came while bytes were pending: the FIN follows them */
  private shutWanted = false;

  constructor(
    io: Io,
    fd: number,
    slab: Slab,
    traffic: Traffic,
    readSize: number,
    socket = true,
    /** the engine's: writes made while it is active are held until the slice ends */
    private readonly cork?: WriteCork,
  ) {
    super(io, fd, slab, traffic, readSize, socket);
  }

  /** What an uncork left: the kernel has not taken it yet. Held bytes are
   * not counted: they count as taken, and go out when the slice ends. */
  get unsent(): number {
    return this.pending?.length ?? 0;
  }

  /** Held while the slice is corked (copied: the caller may reuse its
   * buffers once the write counts as done), or written now after what is
   * held; nothing is taken while an uncork's rest waits and the kernel
   * takes none of it. */
  writev(bufs: Uint8Array[]): number {
    if (this.pending && !this.flush()) return 0;
    let n = 0;
    for (const b of bufs) n += b.length;
    if (n > 0 && this.cork && !this.closed && this.cork.admits(this.heldBytes, n)) {
      const first = this.held === undefined;
      let at = this.heldBytes;
      if (!this.held || this.held.length < at + n) {
        const room = Buffer.allocUnsafe(first ? n : Math.max(2 * this.held!.length, at + n));
        if (this.held) this.held.copy(room, 0, 0, at);
        this.held = room;
      }
      for (const b of bufs) {
        this.held.set(b, at);
        at += b.length;
      }
      this.heldBytes = at;
      this.traffic.bytesOut += n;
      this.cork.hold(this, n, first);
      return n;
    }
    this.uncork();
    return this.pending ? 0 : super.writev(bufs);
  }

  /** What is held goes to the kernel in one write; what it does not take
   * waits as `pending`, and the layers above are woken to arm WRITE for it.
   * A broken fd has ended the connection (FdTransport's syscall). */
  uncork(): void {
    const held = this.takeHeld();
    if (!held) return;
    let took: number;
    try {
      took = this.putOne(held, held.length);
    } catch {
      return;
    }
    if (took < held.length) {
      this.pending = held.subarray(took);
      this.up.wake();
    }
  }

  /** What is held, no longer held. */
  private takeHeld(): Buffer | undefined {
    const held = this.held?.subarray(0, this.heldBytes);
    this.held = undefined;
    this.heldBytes = 0;
    return held;
  }

  /** Never throws, as FdTransport's does not: a broken fd has ended the
   * connection (FdTransport's syscall reported it), and what waited is gone. */
  flush(): boolean {
    this.uncork();
    try {
      while (this.pending) {
        const took = this.putOne(this.pending, this.pending.length);
        if (took === 0) return false;
        this.pending = took < this.pending.length ? this.pending.subarray(took) : undefined;
      }
      if (this.shutWanted) {
        this.shutWanted = false;
        super.shutdownWrite();
      }
    } catch {
      this.pending = undefined;
      return false;
    }
    return true;
  }

  shutdownWrite(): void {
    this.uncork();
    if (this.pending) this.shutWanted = true;
    else super.shutdownWrite();
  }

  interest(want: BatchAction): BatchAction {
    return this.pending ? "write_pending" : want;
  }

  /** What is held is written first, as bytes the kernel took would still
   * go (best effort: no error is reported from a close). */
  close(): void {
    const held = this.takeHeld();
    this.pending = undefined;
    if (held && !this.closed) {
      try {
        this.io.write(this.fd, held, 0, held.length);
      } catch {
        /* the peer is gone */
      }
    }
    super.close();
  }

  /** Bytes that come before anything the fd holds (as Node's
   * readable.unshift puts data back at the head of a stream). */
  unshift(bytes: Buffer): void {
    if (bytes.length) this.preread = this.preread ? Buffer.concat([bytes, this.preread]) : bytes;
  }

  readNow(size: number): Buffer | null {
    const pre = this.takePreread(size);
    return pre ?? super.readNow(size);
  }

  readable(): void {
    const pre = this.takePreread(Infinity);
    if (pre) {
      this.up.data(pre);
      if (!this.up.wantsMore()) return;
    }
    for (let reads = 1; ; reads++) {
      const want = Math.min(this.hint, this.readSize);
      const { buffer, offset } = this.slab.room(want);
      let n: number;
      try {
        n = this.io.readInto(this.fd, buffer, offset, want);
      } catch (e) {
        this.drained = false;
        this.up.error(e as Error);
        return;
      }
      this.readGave(n, want);
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

  private takePreread(size: number): Buffer | undefined {
    const pre = this.preread;
    if (!pre) return undefined;
    this.preread = pre.length > size ? pre.subarray(size) : undefined;
    const out = pre.length > size ? pre.subarray(0, size) : pre;
    this.traffic.bytesIn += out.length;
    return out;
  }
}

/** UDP and Unix datagram sockets. One socket serves every peer, so an error
 * about one datagram (a send too large, an ICMP port unreachable reported as
 * ECONNREFUSED on a connected socket's next read or send) never ends it: it
 * goes to datagramError and the socket serves on, as Node's dgram emits
 * 'error' and stays open. */
export class DatagramTransport extends FdTransport {
  readonly datagram = true;
  readable(): void {
    const want = Math.min(this.readSize, DATAGRAM_MAX);
    for (let i = 0; i < MAX_DATAGRAMS_PER_EVENT; i++) {
      const { buffer, offset } = this.slab.room(want);
      let d;
      this.drained = false;
      try {
        d = this.io.recvFrom(this.fd, buffer, offset, want);
      } catch (e) {
        if (!this.oneDatagram(e as Error)) {
          this.up.error(e as Error);
          return;
        }
        if (!this.up.wantsMore()) return;
        continue;
      }
      if (!d) {
        this.drained = true; // a datagram socket is drained only by EAGAIN
        return;
      }
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
