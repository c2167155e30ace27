// A connection as Node's net.Socket (and, on TLS, tls.TLSSocket): a Duplex
// over a Protocol's own I/O (stream.ts is that Protocol), the fd Erlang's to
// poll. Reads are pushed, a full readable side pauses reading; writes go
// through Protocol.write, a callback waiting while WRITE is armed. docs/streams.md.
import { Duplex } from "stream";
import type { Server } from "net";
import type { CipherNameAndProtocol, DetailedPeerCertificate, PeerCertificate, TLSSocket } from "tls";
import type { SocketAddress } from "./addon";
import type { Clock } from "./clock";
import type { TlsInfo } from "./types";
import { Protocol, handleOf } from "./protocol";

/** Writes of several chunks (a corked socket) up to this many bytes go out
 * as one buffer: one syscall instead of one per chunk. */
const COALESCE_MAX = 16 * 1024;

/** How a Socket behaves, as net.Server passes its options to each socket. */
export interface SocketOptions {
  /** keep the writable side open after the peer's end (net's allowHalfOpen; default false) */
  allowHalfOpen?: boolean;
  /** bytes the readable side holds before reading pauses (Node's default when unset) */
  readableHighWaterMark?: number;
  /** bytes the writable side holds before write() returns false (Node's default when unset) */
  writableHighWaterMark?: number;
  /** nothing is read until resume() (net's pauseOnCreate: a net.Server's pauseOnConnect) */
  pauseOnCreate?: boolean;
}

// What the Protocol under a Socket tells it (stream.ts), as Node's own streams
// take their handle's events: methods under symbols, out of the Socket's API.
/** @internal bytes (plaintext on TLS) */
export const kReceived = Symbol("received");
/** @internal the peer's end */
export const kEnded = Symbol("ended");
/** @internal writeBuffer is empty */
export const kDrained = Symbol("drained");
/** @internal connectionLost */
export const kLost = Symbol("lost");
/** @internal the Protocol under it (stream.ts's connectionOf). A field, not a
 * WeakMap: with an entry per Socket, finished connections survived V8's
 * scavenges until a full collection (docs/performance.md, step 8). */
export const kProtocol = Symbol("protocol");

/**
 * One connection as a `net.Socket`-compatible Duplex: what a stream handler
 * (a `net.Server` a protocol module exports, `http.createServer(app)`) gets
 * as its `'connection'`. Over TLS it answers as a tls.TLSSocket too. Each
 * member, and how it maps onto the Protocol: docs/streams.md.
 */
export class Socket extends Duplex {
  /** Always false: the connection was made before the handoff (net.Socket's). */
  readonly connecting = false;
  /** Always false: the socket is connected (net.Socket's). */
  readonly pending = false;
  /** Plaintext bytes received (net.Socket's). */
  bytesRead = 0;
  /** The idle time after which `'timeout'` is emitted (ms), as setTimeout set it; undefined when none. */
  timeout: number | undefined;
  /** The server whose `'connection'` this socket was (net.Socket's). */
  server: Server | null = null;
  /** @internal Node's own name for {@link server}: net.Server's close bookkeeping reads it. */
  _server: Server | null = null;
  private readonly clock: Clock;
  /** bytes given to the connection (bytesWritten adds what waits in the stream) */
  private dispatched = 0;
  /** _write's callback, until writeBuffer is empty */
  private waiting: ((e?: Error | null) => void) | undefined;
  /** _final's callback, until the graceful close is done */
  private finishing: ((e?: Error | null) => void) | undefined;
  /** the peer's end came */
  private eof = false;
  private timer: unknown;
  /** when the pending timer fires (clock ms) */
  private timerAt = 0;
  private lastActive = 0;
  /** 'timeout' was emitted: the next activity starts the count again */
  private timedOut = false;
  private tls: TLSSocket | undefined;
  /** it ended with an error ('close''s hadError) */
  private failed = false;
  private addresses: { local?: SocketAddress | null; peer?: SocketAddress | null } = {};

  /** @internal Made by the stream Protocol (stream.ts) at connectionMade. */
  constructor(
    private readonly proto: Protocol,
    opts: SocketOptions = {},
  ) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
      emitClose: false, // 'close' carries hadError, as net.Socket's (_destroy)
    });
    const h = handleOf(proto);
    if (!h) throw Object.assign(new Error("a Socket needs a live connection"), { code: "EBADF" });
    this.clock = h.clock;
    if (opts.pauseOnCreate) {
      // as net's: not read (READ unarmed) and not flowing; its resume() reads
      proto.pauseReading();
      this.pause();
    } else {
      // reading starts now, as net.Socket's constructor starts it: the bytes
      // read at the handoff, right after 'connection', reach a 'data' listener
      // at once (inside the read, as every later read's do), not on a later
      // tick. Not when paused: this read(0) leaves the stream's reading flag
      // set until a push, and resume() would never ask _read again.
      this.read(0);
    }
  }

  /** @internal */
  get [kProtocol](): Protocol {
    return this.proto;
  }

  // Addresses: the client info (behind a PROXY header, the real client), else the fd's.

  /** The peer's IP address (a string), or undefined (a Unix socket). */
  get remoteAddress(): string | undefined {
    return this.proto.clientInfo.addr ?? this.endOf(true)?.address;
  }

  /** The peer's port. */
  get remotePort(): number | undefined {
    return this.proto.clientInfo.port ?? this.endOf(true)?.port;
  }

  /** `"IPv4"` or `"IPv6"`, as Node names the peer's family. */
  get remoteFamily(): string | undefined {
    const f = this.proto.clientInfo.family;
    return f === "inet" ? "IPv4" : f === "inet6" ? "IPv6" : this.endOf(true)?.family;
  }

  /** Our end's IP address. */
  get localAddress(): string | undefined {
    return this.proto.clientInfo.local_addr ?? this.endOf(false)?.address;
  }

  /** Our end's port. */
  get localPort(): number | undefined {
    return this.proto.clientInfo.local_port ?? this.endOf(false)?.port;
  }

  /** Our end, as net.Socket's address(): `{ address, family, port }`, or `{}`
   * when the fd is no IP socket. */
  address(): SocketAddress | Record<string, never> {
    const a = this.endOf(false);
    if (!a) return {};
    return { address: this.localAddress ?? a.address, family: a.family, port: this.localPort ?? a.port };
  }

  /** Node's copy of the fd (Protocol.fd), -1 once closed: for a socket
   * option the Socket has no method for, never to read or write. */
  get fd(): number {
    return this.proto.closed ? -1 : this.proto.fd;
  }

  /** Bytes written: given to the connection, and waiting in the stream (net.Socket's). */
  get bytesWritten(): number {
    return this.dispatched + this.writableLength;
  }

  /** `"open"`, `"readOnly"`, `"writeOnly"` or `"closed"`, as net.Socket's. */
  get readyState(): "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }

  /** TCP_NODELAY on (the default) or off (Nagle's algorithm), as net.Socket's. */
  setNoDelay(noDelay = true): this {
    if (!this.destroyed) this.proto.setNoDelay(noDelay);
    return this;
  }

  /** TCP keepalive, and the idle time before its first probe (ms; 0 leaves it), as net.Socket's. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    if (!this.destroyed) this.proto.setKeepAlive(enable, initialDelay);
    return this;
  }

  /** net.Socket's: `'timeout'` after `ms` without reads or writes, once until
   * there is activity again (0: never); the socket is not ended. `callback`
   * is a once listener of it. On the engine's clock (the harness's is manual). */
  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== "number" || !(ms >= 0) || !Number.isFinite(ms)) {
      throw Object.assign(new RangeError(`The value of "msecs" is out of range. Received ${String(ms)}`), { code: "ERR_OUT_OF_RANGE" });
    }
    this.timedOut = false;
    this.timeout = ms > 0 ? ms : undefined;
    if (ms > 0 && !this.destroyed) {
      this.lastActive = this.clock.now();
      // A pending timer due before this count ends is kept: due() waits the
      // rest (http sets 0, then its keepAliveTimeout, on every request).
      if (this.timer === undefined || this.timerAt > this.lastActive + ms) this.arm(ms);
    }
    if (callback) {
      if (ms > 0) this.once("timeout", callback);
      else this.removeListener("timeout", callback);
    }
    return this;
  }

  /** End the writable side, then destroy once it is finished (net.Socket's;
   * http's `Connection: close`). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  }

  /** Close now, without an error (net.Socket's resetAndDestroy sends a
   * reset; here the fd is closed abortively: what is queued is dropped). */
  resetAndDestroy(): this {
    if (!this.proto.closed) this.proto.destroy();
    return this.destroy();
  }

  /** Nothing to do: the fd is never in Node's event loop (net.Socket's ref). */
  ref(): this {
    return this;
  }

  /** Nothing to do: the fd is never in Node's event loop (net.Socket's unref). */
  unref(): this {
    return this;
  }

  // What libraries ask of a tls.TLSSocket.

  /** STARTTLS on this plaintext connection (Protocol.startTls, with the
   * connection's `starttls` option set): resolves with the session once
   * handshaken, when `'secure'` is emitted, as tls.TLSSocket emits it; from
   * then on the members below answer for TLS. Rejects as Protocol.startTls. */
  startTls(): Promise<TlsInfo> {
    return this.proto.startTls().then((info) => (this.emit("secure"), info));
  }

  /** true on a TLS connection (tls.TLSSocket's `encrypted`), undefined on a
   * plain one, as a net.Socket has none: Express's `req.secure` and
   * `req.protocol`, ws and Fastify read it. */
  get encrypted(): true | undefined {
    return this.session() ? true : undefined;
  }

  /** Whether the peer's certificate was verified against the CAs (TLS only). */
  get authorized(): boolean {
    return this.session()?.authorized ?? false;
  }

  /** Why the peer's certificate was not verified, as tls.TLSSocket says it. */
  get authorizationError(): Error | string | undefined {
    return (this.session() as { authorizationError?: Error | string } | undefined)?.authorizationError;
  }

  /** The protocol ALPN chose (`"http/1.1"`, `"h2"`), or false; undefined
   * on a plain connection, as on a net.Socket (http2 reads false as "TLS
   * without h2" and refuses). */
  get alpnProtocol(): string | false | undefined {
    const s = this.session();
    return s ? s.alpnProtocol || false : undefined;
  }

  /** The server name the client asked for (SNI), or false; undefined on a plain connection. */
  get servername(): string | false | undefined {
    return this.session() ? this.proto.clientInfo.tls?.sni || false : undefined;
  }

  /** The peer's certificate (tls.TLSSocket's): `{}` when it sent none, null
   * on a plain connection or once the session is gone. */
  getPeerCertificate(detailed: true): DetailedPeerCertificate | null;
  getPeerCertificate(detailed?: false): PeerCertificate | null;
  getPeerCertificate(detailed?: boolean): PeerCertificate | DetailedPeerCertificate | null {
    return this.session()?.getPeerCertificate(detailed as true) ?? null;
  }

  /** The TLS version (`"TLSv1.3"`), or null. */
  getProtocol(): string | null {
    return this.session()?.getProtocol() ?? null;
  }

  /** The cipher suite, or null. */
  getCipher(): CipherNameAndProtocol | null {
    return this.session()?.getCipher() ?? null;
  }

  // The Duplex.

  /** @internal The readable side wants more: read again (nothing comes after the peer's end). */
  _read(): void {
    if (!this.eof) this.proto.resumeReading();
  }

  /** @internal What the kernel takes goes now; the callback waits for the rest. */
  _write(chunk: Buffer, _encoding: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.send([chunk], chunk.length, cb);
  }

  /** @internal A corked socket's chunks: small ones as one write. */
  _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    let total = 0;
    for (const c of chunks) total += c.chunk.length;
    const bufs = chunks.map((c) => c.chunk);
    this.send(total <= COALESCE_MAX && bufs.length > 1 ? [Buffer.concat(bufs, total)] : bufs, total, cb);
  }

  /** @internal end(): the FIN after everything written (close_notify first
   * on TLS); once the peer's end came too, the connection's graceful close. */
  _final(cb: (e?: Error | null) => void): void {
    if (this.proto.closed) return cb();
    if (this.eof) {
      this.finishing = cb; // connectionLost calls it, once everything is out
      this.proto.close();
      return;
    }
    try {
      this.proto.shutdownWrite();
    } catch (e) {
      return cb(e as Error);
    }
    cb();
  }

  /** @internal destroy(err): closed now, with `err`. destroy(): what is
   * queued is dropped, then the FIN and the lingering read until the peer's
   * end (at once when it came): with nothing unread now, the peer may still
   * be sending (the rest of a body an early answer did not wait for), and a
   * closed fd would answer it with a reset, which drops what our kernel has
   * not sent yet of our last bytes. net's destroy() closes at once. */
  _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    this.stopTimer();
    if (!this.proto.closed) {
      if (err) this.proto.destroy(err);
      else {
        this.proto.writeBuffer.clear();
        this.proto.close();
      }
    }
    cb(err);
    const hadError = this.failed || err !== null;
    process.nextTick(() => this.emit("close", hadError)); // after 'error', as Node orders them
  }

  // What the Protocol tells it.

  /** Bytes into Protocol.write, in order; `cb` now when the kernel took them
   * all, else once writeBuffer is empty (then 'drain' follows). */
  private send(bufs: Buffer[], total: number, cb: (e?: Error | null) => void): void {
    this.activity();
    if (this.proto.closed) return cb(closedError());
    this.dispatched += total;
    let all = true;
    try {
      for (const b of bufs) all = this.proto.write(b);
    } catch (e) {
      return cb(e as Error); // a broken fd: the connection has ended with it
    }
    if (all) cb();
    else this.waiting = cb;
  }

  /** @internal */
  [kReceived](data: Buffer): void {
    this.bytesRead += data.length;
    this.activity();
    if (!this.push(data)) this.proto.pauseReading();
  }

  /** @internal */
  [kEnded](): void {
    this.eof = true;
    this.proto.pauseReading(); // nothing more to read; the stream ends the connection
    // On a turn of its own, as net's reads are libuv callbacks each, with the
    // ticks their data queued run in between: the data read with it (a whole
    // request) is taken first, else http would see the socket end before its
    // request does, and drop the request unanswered.
    setImmediate(() => {
      if (this.destroyed) return;
      this.push(null);
      // as net's onStreamRead: 'end' now when nothing waits to be read, so a
      // socket nobody reads (a write-only server) still ends
      this.read(0);
    });
  }

  /** @internal */
  [kDrained](): void {
    const cb = this.waiting;
    this.waiting = undefined;
    cb?.();
  }

  /** @internal */
  [kLost](reason: Error | undefined): void {
    this.stopTimer();
    if (reason) this.failed = true;
    const cb = this.finishing;
    this.finishing = undefined;
    cb?.(reason ?? null);
    if (this.destroyed) return;
    // logged and in telemetry already: unhandled, it is not thrown again (Node would die)
    if (reason && this.listenerCount("error") > 0) this.destroy(reason);
    else if (reason) this.destroy();
    // our own close before the peer's end, or before ours: nothing more comes or goes
    else if (!this.eof || !this.writableEnded) this.destroy();
    // else the peer's end is pushed: autoDestroy runs once it is read
  }

  private session(): TLSSocket | undefined {
    return (this.tls ??= handleOf(this.proto)?.tlsSocket);
  }

  private endOf(peer: boolean): SocketAddress | null | undefined {
    const key = peer ? "peer" : "local";
    if (this.addresses[key] === undefined) this.addresses[key] = handleOf(this.proto)?.socketAddress(peer) ?? null;
    return this.addresses[key];
  }

  private activity(): void {
    if (this.timeout === undefined) return;
    this.lastActive = this.clock.now();
    if (this.timedOut) {
      this.timedOut = false;
      this.arm(this.timeout);
    }
  }

  /** The timer, due in `ms`: due() checks the count when it fires. */
  private arm(ms: number): void {
    this.clock.clearTimeout(this.timer);
    this.timerAt = this.clock.now() + ms;
    this.timer = this.clock.setTimeout(() => this.due(), ms);
  }

  /** The count ran out; activity since it started waits the rest. */
  private due(): void {
    this.timer = undefined;
    if (this.timeout === undefined || this.destroyed) return;
    const left = this.lastActive + this.timeout - this.clock.now();
    if (left > 0) return this.arm(left);
    this.timedOut = true;
    this.emit("timeout");
  }

  private stopTimer(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timeout = undefined;
  }
}

/** A write after the connection ended: Node's error for a write after destroy. */
function closedError(): Error {
  return Object.assign(new Error("Cannot call write after a stream was destroyed"), { code: "ERR_STREAM_DESTROYED" });
}
