// What protocol modules extend: the TypeScript port of the reactor Protocol.
import type { TLSSocket } from "tls";
import type { SocketAddress, SocketOption } from "./addon";
import type { Clock } from "./clock";
import type { ClientInfo } from "./types";
import { datagramPort } from "./errors";
import type { Term, Tuple } from "./term-types";
import { MAX_GROUP_BYTES } from "./limits";
import type { TlsInfo } from "./tls-config";

/** What a handler tells the reactor to do next. */
export type Action = "continue" | "write_pending" | "read_pending" | "close";

export const ACTIONS: ReadonlySet<string> = new Set<Action>(["continue", "write_pending", "read_pending", "close"]);

export type { ClientInfo };

/** Where a datagram came from, or goes to. */
export interface Peer {
  addr: string;
  port: number;
}

/** A datagram waiting for the kernel. */
export interface OutgoingDatagram extends Peer {
  data: Uint8Array;
}

/** Which of a connection's own timers fired (see Protocol.setIdleTimeout). */
export type TimerKind = "idle" | "deadline";

/**
 * A connection's address as Erlang holds it: the term `reactor:conn_ref()`,
 * `{reactor_conn, ContextPid, ConnId}`. Opaque to both sides: hand it to
 * Erlang (a `beam.call` argument, a message) and `reactor:send(Ref, Term)`
 * there reaches this connection's `messageReceived`.
 */
export type ConnRef = Tuple<Term>;

/** The runtime's side of one connection, as a Protocol sees it. */
export interface ConnectionHandle {
  readonly ref: ConnRef;
  setTimer(kind: TimerKind, ms: number): void;
  read(size: number): Buffer | null;
  write(data: Uint8Array): boolean;
  writev(bufs: Uint8Array[]): number;
  sendTo(data: Uint8Array, addr: string, port: number): number;
  shutdownWrite(): void;
  startTls(): Promise<TlsInfo>;
  close(reason?: Error): void;
  destroy(reason?: Error): void;
  join(group: Buffer): Promise<void>;
  leave(group: Buffer): void;
  /** READ stays unarmed until readStart (Node's handle.readStop) */
  readStop(): void;
  readStart(): void;
  /** false when the fd has no such option (not TCP): nothing changed */
  setSocketOption(name: SocketOption, value: number): boolean;
  socketAddress(peer: boolean): SocketAddress | null;
  /** the engine's time (the test harness's is manual) */
  readonly clock: Clock;
  /** the TLS session, once the connection's stack has one open */
  readonly tlsSocket: TLSSocket | undefined;
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
  /** Datagrams the kernel did not take yet (UDP); writeReady sends them. */
  readonly datagrams: OutgoingDatagram[] = [];
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
   * valid for as long as it is referenced. On a datagram socket (UDP) each call
   * is one whole datagram and `from` is its sender. */
  abstract dataReceived(data: Buffer, from?: Peer): Action | Promise<Action>;

  /** A datagram was larger than the context's read_size: it was not delivered.
   * The default logs a warning. */
  datagramTooLarge(size: number, from: Peer): void {
    console.warn(`dropped a datagram of ${size} bytes from ${from.addr}:${from.port}: larger than read_size`);
  }

  /** A datagram socket's syscall failed for one datagram; the socket serves
   * on, as Node's dgram emits `'error'` and stays open. `err` is the system
   * error (`err.code`: `EMSGSIZE` for a send larger than the socket takes,
   * `ECONNREFUSED` or `EHOSTUNREACH` when an ICMP error for an earlier
   * datagram comes back on a connected socket, `EINVAL` for an address that
   * is not one, `EACCES`, `ENOBUFS`, ...). `to` is the destination of the
   * send that failed (`sendTo`; a connected socket's `write` has none); it is
   * unset when the error came on a read. The datagram is gone: `sendTo`
   * returns true and `write` counts it as taken. Only EBADF, ENOTSOCK and
   * EFAULT (the fd itself is unusable) end the connection. The default logs a
   * warning; a throw here is logged and ends nothing. */
  datagramError(err: Error, to?: Peer): void {
    console.warn(`a datagram${to ? ` to ${to.addr}:${to.port}` : ""} failed: ${err.message}`);
  }

  /** The fd can take bytes. The default flushes queued datagrams and
   * writeBuffer, asks to write again until both are empty, then goes back to
   * reading. */
  writeReady(): Action | Promise<Action> {
    this.flush();
    return this.writeBuffer.length > 0 || this.datagrams.length > 0 ? "continue" : "read_pending";
  }

  /** The peer closed its side (EOF). Return true to keep the connection open for
   * writing what is left; once the protocol asks to read again it is closed. */
  eofReceived(): boolean | void {
    return false;
  }

  /** A message for this connection: a term Erlang sent to its {@link ref}
   * (`reactor:send/2`), or published to a group it joined
   * (`reactor:publish/2`, `beam.publish`). Returns an Action as dataReceived
   * does, or a Promise of one: "continue" goes on as before (what the
   * connection waited for, it still waits for), "write_pending" sends what
   * it queued, "close" closes. `term` is decoded once per context: every
   * member of a group gets the same object, so treat it as read-only.
   *
   * Messages come in the order Erlang sent them. While a handler's Promise
   * is pending, or writeBuffer holds `write_high_water` bytes or more, they
   * wait in the connection's queue, at most `max_queued_messages` of them;
   * one more ends the connection (destroyed: connectionLost gets
   * EMESSAGEOVERFLOW), as Redis and NATS cut a subscriber that does not keep
   * up. The default logs a warning and drops the message. */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  messageReceived(term: Term): Action | Promise<Action> {
    console.warn("a message came for a protocol with no messageReceived: dropped");
    return "continue";
  }

  /** Called exactly once when the connection ends; `reason` is unset on a clean close. */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  connectionLost(reason?: Error): void {}

  /** Read up to `size` bytes now: a Buffer, an empty Buffer at EOF, or null when
   * nothing is available. */
  read(size = 65536): Buffer | null {
    return this.handle().read(size);
  }

  /** Write `data` (a string is UTF-8), as Node's `socket.write` does: what
   * the kernel takes now goes, the rest waits in writeBuffer behind what is
   * there already, and nothing is lost. Returns true when all of it was
   * taken, false when some waits (Node's meaning). While Node serves a slice
   * of ready connections, up to 16 KiB per connection is taken and held
   * until the slice ends (corked, as TCP_CORK holds it: one write per
   * connection, each peer woken once), always before the next read is armed.
   *
   * From a callback, the Action it returns decides what is armed; bytes
   * this left waiting go before the next read ("read_pending" arms WRITE
   * until they are out). From anywhere else (a timer, a Promise, another
   * connection's callback) the fd is armed for writing at once, and
   * writeReady runs when it can take more. On a datagram socket a write is
   * one datagram, sent now or not at all (false; sendTo queues). After the
   * connection has ended it writes nothing and returns false, where Node's
   * socket reports ERR_STREAM_DESTROYED to the write's callback: a timer that
   * outlives its connection does not throw. */
  write(data: Uint8Array | string): boolean {
    if (this.closed) return false;
    const b = typeof data === "string" ? Buffer.from(data) : data;
    return this.handle().write(b);
  }

  /** Send one datagram to addr:port now (true), or queue it for writeReady
   * when the kernel takes nothing now (false: return "write_pending"). A
   * datagram the kernel refuses is reported to datagramError, here or when
   * the queue is flushed, and counts as done (true): it never throws for it
   * and the socket serves on. `addr` is an IP literal (no DNS lookup is
   * made: any other string is reported to datagramError as EINVAL).
   * Arguments that cannot name a destination throw at once, as Node's dgram
   * `send` throws them: a port that is not an integer 1-65535 a RangeError
   * with code ERR_SOCKET_BAD_PORT, an `addr` that is not a string a
   * TypeError with code ERR_INVALID_ARG_TYPE (programming errors, not the
   * network's: nothing is sent or queued). */
  sendTo(data: Uint8Array | string, addr: string, port: number): boolean {
    const to = datagramPort(addr, port);
    const b = typeof data === "string" ? Buffer.from(data) : data;
    if (this.datagrams.length === 0 && this.handle().sendTo(b, addr, to) >= 0) return true;
    this.datagrams.push({ data: b, addr, port: to });
    return false;
  }

  /** Write as much of writeBuffer (and of the datagram queue) as the kernel
   * takes now. Returns bytes written. */
  flush(): number {
    let total = 0;
    while (this.datagrams.length > 0) {
      const d = this.datagrams[0];
      const n = this.handle().sendTo(d.data, d.addr, d.port);
      if (n < 0) return total;
      this.datagrams.shift();
      total += n;
    }
    while (this.writeBuffer.length > 0) {
      const n = this.handle().writev(this.writeBuffer.peek());
      if (n === 0) break;
      this.writeBuffer.consume(n);
      total += n;
    }
    return total;
  }

  /** Half-close: the peer sees the end of what we send (FIN, or TLS
   * close_notify) while we can still read. Call it once writeBuffer is flushed. */
  shutdownWrite(): void {
    this.handle().shutdownWrite();
  }

  /** Start TLS on this live plaintext connection, as its server: the
   * STARTTLS of SMTP (RFC 3207), IMAP and POP3's STLS, PostgreSQL's
   * SSLRequest. What Node does with `new tls.TLSSocket(socket, { isServer:
   * true, secureContext })`, here with the connection's `starttls` TLS option
   * set: its listener's, or else its context's (Erlang, as `tls` is named).
   *
   * Call it once the protocol has answered the request in clear (SMTP's
   * "220 Ready to start TLS"). What was written before the call goes out in
   * clear, first; everything written after it is encrypted, and
   * dataReceived gets only what came through TLS. The TLS session begins
   * with the first byte read from the fd after the call: what the protocol
   * already holds of the peer's input was sent in clear, and is the
   * protocol's to drop, never to take as if it came over TLS (RFC 3207 §4;
   * CVE-2011-0411 was a server that did). The runtime never feeds it to TLS.
   *
   * Returns the negotiated session once the handshake is done (it is
   * `clientInfo.tls` from then on). A handler may await it and return its
   * Action after: the handshake runs while the handler is pending, and what
   * the peer sends over TLS meanwhile waits until the connection reads
   * again. A handshake that fails (no ClientHello where one should be, the
   * TLS option set's handshake_timeout, the peer gone) ends the connection:
   * connectionLost gets the reason and the Promise rejects with it (nothing
   * needs to catch it).
   * @throws ReactorError `ENOSTARTTLS` when the connection has no `starttls`
   *   option set, `ETLSACTIVE` when it is under TLS already (its listener's
   *   `tls`, or an earlier startTls); `EBADF` once it is closed. */
  startTls(): Promise<TlsInfo> {
    return this.handle().startTls();
  }

  /** This connection's address for Erlang: `reactor:conn_ref()`, the term
   * `{reactor_conn, ContextPid, ConnId}`. It is what `reactor:send/2` takes,
   * what `reactor_context:connections/1` lists as `ref`, and what telemetry's
   * connection events carry. */
  get ref(): ConnRef {
    const h = this[kConn];
    if (!h) throw Object.assign(new Error("not a connection yet"), { code: "EBADF" });
    return h.ref;
  }

  /** Join `group` (a string is its UTF-8 bytes, at most 255 bytes): a publish
   * to it (`reactor:publish/2` in Erlang, `beam.publish` here), on any
   * connected node, reaches this connection's messageReceived. Joining twice
   * is joining once. The connection leaves every group when it ends, at
   * once: no message reaches it afterwards.
   *
   * The join is asynchronous, as pg's is: the Promise resolves once this
   * node's context is in the pg group, so that from then on a publish made
   * on this node (and, once pg's broadcast has reached them, on the others)
   * reaches this connection; it also resolves when the connection leaves the
   * group or ends first. It never rejects: ignoring it is fine.
   * @throws RangeError for an empty or longer name, or past 1024 groups. */
  join(group: string | Uint8Array): Promise<void> {
    const name = groupName(group);
    if (this.closed) return Promise.resolve(); // an ended connection is in no group
    return this.handle().join(name);
  }

  /** Leave `group`; leaving a group it is not in (or after the connection
   * ended, which left them all) does nothing. */
  leave(group: string | Uint8Array): void {
    const name = groupName(group);
    if (!this.closed) this.handle().leave(name);
  }

  /** Close the connection (from a handler, a timer, a promise, anywhere),
   * as returning "close" does and as Node's socket.end() does: what
   * writeBuffer holds is written first, then TLS's close_notify and the FIN;
   * connectionLost runs once they are out. A peer that takes nothing is cut
   * after the context's close_timeout (connectionLost gets ECLOSETIMEOUT).
   * Then, unseen by the protocol, what the peer still sends is read and
   * dropped until its end (at most linger_timeout, linger_max_bytes), so
   * that it reads our last bytes instead of a reset. A `reason` is what
   * connectionLost and telemetry get (a close that is no error: none). */
  close(reason?: Error): void {
    this[kConn]?.close(reason);
  }

  /** Close the connection now, as Node's socket.destroy() does: what is
   * queued is dropped, the fd is closed, connectionLost(reason) runs at once. */
  destroy(reason?: Error): void {
    this[kConn]?.destroy(reason);
  }

  /** Stop reading: READ is not armed until resumeReading(), whatever the
   * handlers return, while writes go on (a write still arms WRITE). What the
   * peer sends waits in the kernel, and the peer's TCP window closes: the
   * backpressure of a reader that is full. asyncio's
   * Transport.pause_reading; Node's net.Socket does it when its readable
   * side is full. Calling it twice is calling it once. */
  pauseReading(): void {
    this[kConn]?.readStop();
  }

  /** Read again after pauseReading(): READ is armed now (or by the Action
   * of the callback that calls it). asyncio's Transport.resume_reading. */
  resumeReading(): void {
    this[kConn]?.readStart();
  }

  /** Turn Nagle's algorithm off (`true`, the default) or on, as Node's
   * socket.setNoDelay: TCP_NODELAY on the fd. Listeners set it on at accept
   * (socket_opts' nodelay). On an fd that is not TCP it does nothing, as
   * Node's does not. */
  setNoDelay(noDelay = true): void {
    this[kConn]?.setSocketOption("nodelay", noDelay ? 1 : 0);
  }

  /** TCP keepalive on or off, as Node's socket.setKeepAlive: SO_KEEPALIVE,
   * and with `initialDelay` (ms, whole seconds count) the idle time before
   * the first probe (TCP_KEEPIDLE); 0 leaves that as it was. Nothing on an
   * fd that is not TCP. */
  setKeepAlive(enable = false, initialDelay = 0): void {
    const h = this[kConn];
    if (!h || !h.setSocketOption("keepalive", enable ? 1 : 0)) return;
    const secs = Math.floor(initialDelay / 1000);
    if (enable && secs >= 1) h.setSocketOption("keepidle", secs);
  }

  /** Be told after `ms` without data from the peer, as Node's
   * socket.setTimeout and Bun's `timeout` handler do: `timedOut("idle")` runs,
   * and by default closes. Data restarts the count; 0 turns it off. */
  setIdleTimeout(ms: number): void {
    this[kConn]?.setTimer("idle", ms);
  }

  /** Be told `ms` from now whatever the traffic, e.g. a whole request header
   * must arrive within 10 s however slowly it trickles: `timedOut("deadline")`
   * runs, and by default closes. Setting it again moves it; 0 clears it. */
  setDeadline(ms: number): void {
    this[kConn]?.setTimer("deadline", ms);
  }

  /** A timer of setIdleTimeout or setDeadline fired. Return nothing or
   * "close" to close (connectionLost gets EIDLETIMEOUT or EDEADLINE), or an
   * Action to go on; an idle timer then counts again. */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  timedOut(kind: TimerKind): Action | void {
    return "close";
  }

  private handle(): ConnectionHandle {
    const h = this[kConn];
    if (!h || this.closed) throw Object.assign(new Error("connection is closed"), { code: "EBADF" });
    return h;
  }
}

/** A group's name as bytes: what Erlang's `reactor:publish/2` names it by. */
export function groupName(group: string | Uint8Array): Buffer {
  if (typeof group !== "string" && !(group instanceof Uint8Array))
    throw new TypeError("a group is a string or a Uint8Array");
  const b = typeof group === "string" ? Buffer.from(group) : Buffer.from(group);
  if (b.length === 0 || b.length > MAX_GROUP_BYTES)
    throw new RangeError(`a group's name is 1 to ${MAX_GROUP_BYTES} bytes, not ${b.length}`);
  return b;
}

/** @internal */
export function bind(p: Protocol, h: ConnectionHandle | undefined): void {
  p[kConn] = h;
}

/** @internal Set on a Protocol class whose connections' async work (the
 * timers, ticks and Promises its callbacks start) is not followed for log
 * attribution: the stream handlers' (docs/streams.md, "Errors"). */
export const kOwnAsync = Symbol("ownAsync");

/** @internal What the runtime's own layers over a Protocol (the stream
 * sockets of socket.ts) reach of its connection: undefined before the
 * handoff and after the connection ended. */
export function handleOf(p: Protocol): ConnectionHandle | undefined {
  return p.closed ? undefined : p[kConn];
}
