// The dispatch engine: one Connection per handed-off fd, the protocol callbacks,
// and the translation of what they return into what Erlang arms next.
import type { Io } from "./addon";
import type { ClientInfo, LogLevel, Stats, WireAction } from "./codec";
import { ReactorError, isSystemError } from "./errors";
import { Action, ConnectionHandle, Protocol, bind } from "./protocol";
import { parseProxyHeader } from "./proxy";
import { Registry } from "./registry";
import { TlsConfig, TlsInfo, TlsSession, parseTlsOptions } from "./tls";

/** Where the engine's answers go; the port batches them into frames. */
export interface Sink {
  act(id: number, action: WireAction): void;
  ack(id: number, action: WireAction): void;
  nack(id: number, reason: string): void;
  log(level: LogLevel, id: number | null, text: string): void;
  /** Something settled outside a frame's dispatch: flush soon. */
  wake(): void;
}

const SLAB_MIN = 1024 * 1024;
// Reads adapt per connection, as Netty's receive buffers do: a read that fills
// the buffer doubles the next one (up to read_size), small reads shrink it, so
// streams move in large syscalls and small messages do not claim large slabs.
const READ_START = 64 * 1024;
const READ_MIN = 4 * 1024;
const DATAGRAM_MAX = 65536;
const FAILED = Symbol("failed");
const MAX_READS_PER_EVENT = 4;
const MAX_DATAGRAMS_PER_EVENT = 64;

export interface ReactorOptions {
  /** the most bytes one read takes (default 1 MiB); each connection's reads
   * adapt between 4 KiB and this */
  readSize?: number;
  /** a connection whose writeBuffer holds this many bytes stops reading until it
   * drains below it (default 1 MiB; 0 = unbounded) */
  writeHighWater?: number;
  /** ms a handler's Promise may stay pending before its connection is closed (0 = none) */
  callbackTimeout?: number;
  /** ms without an event before a connection is closed (0 = none) */
  idleTimeout?: number;
  /** terminate TLS on every connection (unless its clientInfo says tls: false) */
  tls?: TlsConfig;
}

class Connection implements ConnectionHandle {
  closed = false;
  /** a datagram socket: one read is one datagram, with its sender */
  dgram = false;
  /** bytes the next read asks for (adaptive) */
  readHint = READ_START;
  /** waiting for a PROXY protocol header: the bytes of it seen so far */
  proxyBuf?: Buffer;
  /** TLS: the session, whether its handshake is done, what the protocol wants
   * armed once the ciphertext is out, and whether a settle is scheduled */
  tls?: TlsSession;
  secure = false;
  tlsNext: WireAction = "read_pending";
  settling = false;
  handshakeTimer?: NodeJS.Timeout;
  eof = false;
  paused = false;
  lastActive = Date.now();
  constructor(
    readonly id: number,
    readonly fd: number,
    readonly proto: Protocol,
    private readonly reactor: Reactor,
  ) {}

  read(size: number): Buffer | null {
    const buf = Buffer.allocUnsafe(size);
    const n = this.syscall(() => this.reactor.io.readInto(this.fd, buf, 0, size));
    if (n < 0) return null;
    this.reactor.bytesIn += n;
    return buf.subarray(0, n);
  }

  writev(bufs: Uint8Array[]): number {
    if (this.tls) {
      // TLS takes everything at once: bound what waits as ciphertext instead,
      // so a peer that does not read holds the rest in writeBuffer (and the
      // high-water mark applies there)
      const hw = this.reactor.highWater;
      const n = this.tls.writePlain(bufs, hw > 0 ? Math.max(0, hw - this.tls.backlog) : Infinity);
      this.reactor.tlsSettleSoon(this);
      return n;
    }
    const n = this.syscall(() => this.reactor.io.writev(this.fd, bufs));
    this.reactor.bytesOut += n;
    return n;
  }

  shutdownWrite(): void {
    if (this.tls) {
      this.tls.end(); // close_notify; TLS 1.3 peers may still send
      this.reactor.tlsSettleSoon(this);
    } else {
      this.syscall(() => (this.reactor.io.shutdown(this.fd, 1), 0));
    }
  }

  sendTo(data: Uint8Array, addr: string, port: number): number {
    const n = this.syscall(() => this.reactor.io.sendTo(this.fd, data, addr, port));
    if (n > 0) this.reactor.bytesOut += n;
    return n;
  }

  /** A broken fd (EPIPE, ECONNRESET) ends the connection wherever the call came
   * from, a handler or a timer; the error still reaches the caller. */
  private syscall(f: () => number): number {
    try {
      return f();
    } catch (e) {
      if (isSystemError(e) && !this.closed) {
        this.reactor.closeConnection(this, e, true);
        this.reactor.sink.wake();
      }
      throw e;
    }
  }

  close(reason?: Error): void {
    this.reactor.closeConnection(this, reason, true);
    this.reactor.sink.wake();
  }
}

type Mode = "read" | "write";

export class Reactor {
  bytesIn = 0;
  bytesOut = 0;
  events = 0;
  errors = 0;
  private readonly conns = new Map<number, Connection>();
  // Reads land in a slab and protocols get views of it. A slab is never reused,
  // only replaced, so a view a protocol keeps stays valid.
  private slab: Buffer;
  private slabOff = 0;
  private readonly readSize: number;
  readonly highWater: number;
  private readonly callbackTimeout: number;
  private readonly idleTimeout: number;
  private readonly sweeper?: NodeJS.Timeout;
  private readonly tlsConfig?: TlsConfig;
  private readonly tlsConfigs = new Map<string, TlsConfig>();

  constructor(
    readonly io: Io,
    readonly sink: Sink,
    /** the protocol factory, the fd -> Protocol map, the running connection */
    readonly registry: Registry,
    opts: ReactorOptions = {},
  ) {
    this.readSize = opts.readSize ?? 1024 * 1024;
    this.highWater = opts.writeHighWater ?? 1 << 20;
    this.callbackTimeout = opts.callbackTimeout ?? 0;
    this.idleTimeout = opts.idleTimeout ?? 0;
    this.tlsConfig = opts.tls;
    this.slab = Buffer.allocUnsafe(SLAB_MIN);
    if (this.idleTimeout > 0) {
      this.sweeper = setInterval(() => this.closeIdle(), Math.max(10, this.idleTimeout / 4));
      this.sweeper.unref();
    }
  }

  /** Stop the idle sweeper (the port exits instead; tests call this). */
  dispose(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Bytes queued in every writeBuffer. */
  buffered(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.proto.writeBuffer.length;
    return n;
  }

  /** Bytes of ciphertext waiting for the kernel, over all TLS connections. */
  tlsQueued(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.tls?.queued ?? 0;
    return n;
  }

  get size(): number {
    return this.conns.size;
  }

  stats(): Stats {
    return {
      connections: this.conns.size,
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      events: this.events,
      errors: this.errors,
      buffered: this.buffered(),
      tls_queued: this.tlsQueued(),
    };
  }

  handoff(id: number, fd: number, info: ClientInfo): void {
    let proto: Protocol;
    try {
      const factory = this.registry.protocolFactory;
      if (!factory) throw new Error("no protocol factory is set");
      proto = factory();
      if (!(proto instanceof Protocol) && typeof (proto as Protocol)?.dataReceived !== "function") {
        throw new TypeError(`the protocol factory returned ${describe(proto)}, not a Protocol`);
      }
    } catch (e) {
      this.errors++;
      this.sink.log("error", id, `protocol factory failed: ${stackOf(e)}`);
      this.closeFd(fd);
      this.sink.nack(id, "factory_failed");
      return;
    }
    if (this.conns.has(id)) {
      // Erlang never reuses a live id; refuse rather than orphan the old one.
      this.closeFd(fd);
      this.sink.nack(id, "duplicate_id");
      return;
    }
    const conn = new Connection(id, fd, proto, this);
    conn.dgram = info.type === "udp" || info.type === "unix_dgram";
    bind(proto, conn);
    proto.fd = fd;
    proto.clientInfo = info;
    this.conns.set(id, conn);
    this.registry.attach(fd, proto);
    this.events++;
    const tls = this.tlsFor(info);
    if (tls instanceof Error) {
      this.errors++;
      this.sink.log("error", id, `TLS options of this connection: ${tls.message}`);
      this.closeConnection(conn, tls, false);
      this.sink.nack(id, "tls_config_failed");
      return;
    }
    if (tls) this.startTls(conn, tls);
    if (info.proxy_protocol) {
      // connectionMade waits for the real client's address in the header
      conn.proxyBuf = Buffer.alloc(0);
      this.sink.ack(id, "read_pending");
      return;
    }
    if (conn.tls) {
      // connectionMade waits for the handshake
      this.sink.ack(id, "read_pending");
      return;
    }
    const wire = this.made(conn, false);
    if (wire === FAILED) {
      this.sink.nack(id, "connection_made_failed");
    } else if (wire === null) {
      this.sink.nack(id, "invalid_action");
    } else if (wire === "close") {
      this.closeConnection(conn, undefined, false);
      this.sink.ack(id, "close");
    } else {
      this.sink.ack(id, wire);
    }
  }

  readReady(id: number): void {
    const conn = this.conns.get(id);
    if (!conn || conn.closed) return; // stale: closed while the event was in flight
    this.events++;
    conn.lastActive = Date.now();
    if (conn.dgram) {
      this.readDatagrams(conn);
      return;
    }
    for (let reads = 1; ; reads++) {
      const want = Math.min(conn.readHint, this.readSize);
      this.ensureSlab(want);
      let n: number;
      try {
        n = this.io.readInto(conn.fd, this.slab, this.slabOff, want);
      } catch (e) {
        this.closeConnection(conn, e as Error, true);
        return;
      }
      if (n < 0) {
        this.sink.act(id, "read_pending"); // nothing (more) there: arm again
        return;
      }
      if (n === 0) {
        this.eofReceived(conn);
        return;
      }
      const data = this.slab.subarray(this.slabOff, this.slabOff + n);
      this.slabOff += (n + 7) & ~7;
      this.bytesIn += n;
      if (n === want) conn.readHint = Math.min(want * 2, this.readSize);
      else if (n < want / 8) conn.readHint = Math.max(want / 2, READ_MIN);
      if (conn.tls && conn.proxyBuf === undefined) {
        conn.tls.feed(data); // plaintext comes back through the session's events
        this.tlsSettleSoon(conn);
        return;
      }
      const wire =
        conn.proxyBuf !== undefined
          ? this.proxyReceived(conn, data)
          : this.writeAtOnce(conn, this.step(conn, "read", "dataReceived", () => conn.proto.dataReceived(data)));
      // A read that filled the buffer may have left more behind: read again
      // now rather than after a round trip through Erlang, a few times at most
      // so that one busy connection cannot starve the others.
      if (wire === "read_pending" && n === want && reads < MAX_READS_PER_EVENT) continue;
      this.emit(conn, wire);
      return;
    }
  }

  /** Bytes before the PROXY header is complete: parse it, put the real client
   * into clientInfo, then start the protocol with what followed the header. */
  private proxyReceived(conn: Connection, data: Buffer): WireAction | null {
    const buf = conn.proxyBuf!.length ? Buffer.concat([conn.proxyBuf!, data]) : data;
    let r;
    try {
      r = parseProxyHeader(buf);
    } catch (e) {
      const info = conn.proto.clientInfo;
      this.errors++;
      this.sink.log("warning", conn.id, `malformed PROXY header from ${info.addr}:${info.port}: ${(e as Error).message}; closing`);
      this.closeConnection(conn, e as Error, true);
      return null;
    }
    if (!r.done) {
      conn.proxyBuf = Buffer.from(buf); // small: copy rather than pin a slab
      return "read_pending";
    }
    conn.proxyBuf = undefined;
    const info = conn.proto.clientInfo;
    if (r.proxied) {
      conn.proto.clientInfo = { ...info, ...r.proxied, proxied_by: { addr: info.addr, port: info.port } };
    }
    const rest = buf.subarray(r.length);
    if (conn.tls) {
      if (rest.length) conn.tls.feed(rest);
      this.tlsSettleSoon(conn);
      return null;
    }
    const made = this.made(conn, true);
    if (made === FAILED) return null;
    let wire = made;
    if (rest.length === 0 || wire === null || wire === "close") return wire;
    // what followed the header is the protocol's first data
    wire = this.writeAtOnce(conn, wire);
    if (wire === null || conn.closed) return null;
    return this.writeAtOnce(conn, this.step(conn, "read", "dataReceived", () => conn.proto.dataReceived(rest)));
  }

  /** The context's TLS, unless the connection says `tls: false` or brings its
   * own options (a listener's); configs are made once per set of options. */
  private tlsFor(info: ClientInfo): TlsConfig | Error | undefined {
    const t = info.tls;
    if (t === false) return undefined;
    if (typeof t !== "object" || t === null) return this.tlsConfig;
    const key = JSON.stringify(t);
    let config = this.tlsConfigs.get(key);
    if (!config) {
      try {
        config = new TlsConfig(parseTlsOptions(t)!);
      } catch (e) {
        return e as Error;
      }
      this.tlsConfigs.set(key, config);
    }
    return config;
  }

  private startTls(conn: Connection, config: TlsConfig): void {
    conn.tls = new TlsSession(
      config,
      {
        secure: (info) => this.tlsSecure(conn, info),
        data: (plain) => this.tlsData(conn, plain),
        end: () => this.tlsEnd(conn),
        error: (e) => this.tlsFailed(conn, e),
      },
      () => this.tlsSettleSoon(conn),
    );
    conn.handshakeTimer = setTimeout(
      () => this.tlsFailed(conn, new ReactorError("EHANDSHAKETIMEOUT", `TLS handshake took longer than ${config.handshakeTimeout} ms`)),
      config.handshakeTimeout,
    );
  }

  /** TLS works in callbacks: after a burst of them, write what it produced and
   * arm what is needed, once. */
  tlsSettleSoon(conn: Connection): void {
    if (conn.settling || conn.closed) return;
    conn.settling = true;
    setImmediate(() => {
      conn.settling = false;
      this.tlsSettle(conn);
      this.sink.wake();
    });
  }

  private tlsSettle(conn: Connection): void {
    if (conn.closed || !conn.tls) return;
    if (!this.flushCipher(conn) || conn.paused) return;
    if (conn.tls.rawPending) this.sink.act(conn.id, "write_pending"); // ciphertext first
    else if (!conn.secure) this.sink.act(conn.id, "read_pending"); // the handshake wants input
    else if (conn.tlsNext === "read_pending" && conn.eof) this.closeConnection(conn, undefined, true);
    else this.sink.act(conn.id, conn.tlsNext);
  }

  /** Ciphertext out to the fd; false when the fd broke (the connection is closed). */
  private flushCipher(conn: Connection): boolean {
    try {
      this.bytesOut += conn.tls!.flushRaw((bufs) => this.io.writev(conn.fd, bufs));
      return true;
    } catch (e) {
      this.closeConnection(conn, e as Error, true);
      return false;
    }
  }

  private tlsWritable(conn: Connection): void {
    if (!this.flushCipher(conn)) return;
    if (conn.tls!.rawPending) {
      this.sink.act(conn.id, "write_pending");
      return;
    }
    if (conn.secure && conn.tlsNext === "write_pending" && !conn.paused) {
      conn.tlsNext = "read_pending";
      const wire = this.step(conn, "write", "writeReady", () => conn.proto.writeReady());
      if (wire === "close") {
        this.closeConnection(conn, undefined, true);
        return;
      }
      if (wire !== null) conn.tlsNext = wire;
    }
    this.tlsSettleSoon(conn);
  }

  private tlsSecure(conn: Connection, info: TlsInfo): void {
    if (conn.closed) return;
    clearTimeout(conn.handshakeTimer);
    conn.secure = true;
    conn.proto.clientInfo = { ...conn.proto.clientInfo, tls: info };
    const wire = this.made(conn, true);
    if (wire === FAILED) return;
    if (wire === "close") this.closeConnection(conn, undefined, true);
    else if (wire !== null) this.emit(conn, this.writeAtOnce(conn, wire));
  }

  private tlsData(conn: Connection, plain: Buffer): void {
    if (conn.closed || !conn.secure) return;
    conn.lastActive = Date.now();
    this.emit(conn, this.writeAtOnce(conn, this.step(conn, "read", "dataReceived", () => conn.proto.dataReceived(plain))));
  }

  private tlsEnd(conn: Connection): void {
    if (conn.closed) return;
    conn.eof = true;
    const keep = this.call(conn, "eofReceived", () => conn.proto.eofReceived());
    if (keep === FAILED) return;
    if (keep || conn.proto.writeBuffer.length > 0) conn.tlsNext = "write_pending";
    else conn.tlsNext = "read_pending"; // after EOF: close once the ciphertext is out
    this.tlsSettleSoon(conn);
  }

  private tlsFailed(conn: Connection, e: Error): void {
    if (conn.closed) return;
    const info = conn.proto.clientInfo;
    const where = `${info.addr ?? "peer"}:${info.port ?? "-"}`;
    this.errors++;
    this.sink.log(
      "warning",
      conn.id,
      conn.secure ? `TLS error from ${where}: ${e.message}` : `TLS handshake with ${where} failed: ${e.message}`,
    );
    this.closeConnection(conn, e, true);
    this.sink.wake();
  }

  /** Datagrams, one dataReceived each, until none is left (or a batch is done). */
  private readDatagrams(conn: Connection): void {
    for (let i = 0; i < MAX_DATAGRAMS_PER_EVENT; i++) {
      const want = Math.min(this.readSize, DATAGRAM_MAX);
      this.ensureSlab(want);
      let d;
      try {
        d = this.io.recvFrom(conn.fd, this.slab, this.slabOff, want);
      } catch (e) {
        this.closeConnection(conn, e as Error, true);
        return;
      }
      if (!d) break;
      const from = { addr: d.addr, port: d.port };
      if (d.size > d.n) {
        // Never hand a protocol a silently cut datagram.
        try {
          this.registry.runAs(conn.id, () => conn.proto.datagramTooLarge(d.size, from));
        } catch (e) {
          this.sink.log("error", conn.id, `datagramTooLarge threw: ${stackOf(e)}`);
        }
        continue;
      }
      const data = this.slab.subarray(this.slabOff, this.slabOff + d.n);
      this.slabOff += (d.n + 7) & ~7;
      this.bytesIn += d.n;
      const wire = this.writeAtOnce(conn, this.step(conn, "read", "dataReceived", () => conn.proto.dataReceived(data, from)));
      if (wire !== "read_pending") {
        this.emit(conn, wire);
        return;
      }
    }
    this.sink.act(conn.id, "read_pending");
  }

  private ensureSlab(want: number): void {
    if (this.slab.length - this.slabOff < want) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_MIN, want));
      this.slabOff = 0;
    }
  }

  writeReady(id: number): void {
    const conn = this.conns.get(id);
    if (!conn || conn.closed) return;
    this.events++;
    conn.lastActive = Date.now();
    if (conn.tls) {
      this.tlsWritable(conn);
      return;
    }
    this.emit(conn, this.step(conn, "write", "writeReady", () => conn.proto.writeReady()));
  }

  /** Erlang closed the connection (its copy is already gone). */
  closeFromErlang(id: number, why: string): void {
    const conn = this.conns.get(id);
    if (conn) this.closeConnection(conn, new ReactorError("ECLOSEDBYREACTOR", `closed by the reactor: ${why}`), false);
  }

  /** Graceful stop: every protocol gets connectionLost, every fd is closed. */
  closeAll(reason: Error): void {
    for (const conn of [...this.conns.values()]) this.closeConnection(conn, reason, false);
  }

  closeConnection(conn: Connection, reason: Error | undefined, tellErlang: boolean): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.proto.closed = true;
    if (conn.tls) {
      clearTimeout(conn.handshakeTimer);
      conn.tls.end(); // close_notify, written if the fd takes it now
      try {
        conn.tls.flushRaw((bufs) => this.io.writev(conn.fd, bufs));
      } catch {
        /* the peer is gone already */
      }
      conn.tls.destroy();
    }
    // Shut down before close: the peer sees the end now, even while Erlang's copy
    // (or a user's dup) of the fd is still open.
    try {
      this.io.shutdown(conn.fd, 2);
    } catch {
      /* already reset or not a socket: nothing to shut down */
    }
    this.closeFd(conn.fd);
    this.conns.delete(conn.id);
    this.registry.detach(conn.fd, conn.proto);
    if (tellErlang) this.sink.act(conn.id, "close");
    try {
      this.registry.runAs(conn.id, () => conn.proto.connectionLost(reason));
    } catch (e) {
      this.errors++;
      this.sink.log("error", conn.id, `connectionLost threw: ${stackOf(e)}`);
    }
  }

  private eofReceived(conn: Connection): void {
    if (conn.tls && conn.proxyBuf === undefined) {
      if (!conn.secure) {
        this.closeConnection(conn, undefined, true); // gone during the handshake
        return;
      }
      conn.tls.feedEnd(); // TLS says "end" (or errors) in turn
      this.tlsSettleSoon(conn);
      return;
    }
    conn.eof = true;
    if (conn.proxyBuf !== undefined) {
      this.closeConnection(conn, undefined, true); // gone before its PROXY header was complete
      return;
    }
    const keep = this.call(conn, "eofReceived", () => conn.proto.eofReceived());
    if (keep === FAILED) return;
    // Like asyncio's transport.close(): what is queued is written first.
    if (keep || conn.proto.writeBuffer.length > 0) this.sink.act(conn.id, "write_pending");
    else this.closeConnection(conn, undefined, true);
  }

  /** Runs a protocol callback with its connection named in what it logs; a
   * throw ends the connection (logged) and gives FAILED. */
  private call<T>(conn: Connection, name: string, fn: () => T, tellErlang = true): T | typeof FAILED {
    try {
      return this.registry.runAs(conn.id, fn, true);
    } catch (e) {
      this.handlerFailed(conn, name, e, tellErlang);
      return FAILED;
    }
  }

  /** connectionMade, and the first thing to arm (null: an invalid action). */
  private made(conn: Connection, tellErlang: boolean): WireAction | null | typeof FAILED {
    const first = this.call(conn, "connectionMade", () => conn.proto.connectionMade(conn.fd, conn.proto.clientInfo), tellErlang);
    if (first === FAILED) return FAILED;
    return first === undefined ? "read_pending" : this.toWire(conn, "read", first, "connectionMade");
  }

  /** Runs a handler. Returns what Erlang should arm next, or null when nothing
   * is to be sent now: the handler's Promise is pending, or the connection ended. */
  private step(conn: Connection, mode: Mode, name: string, fn: () => Action | Promise<Action>): WireAction | null {
    if (conn.closed) return null;
    const r = this.call(conn, name, fn);
    if (r === FAILED) return null;
    if (isThenable(r)) {
      this.pause(conn, mode, name, r);
      return null;
    }
    return conn.closed ? null : this.toWire(conn, mode, r, name);
  }

  /** "write_pending" from a read handler: the fd can nearly always take bytes
   * now, so writeReady runs at once and WRITE is armed only if it asks again
   * (the kernel took less than everything). One round trip instead of two. */
  private writeAtOnce(conn: Connection, wire: WireAction | null): WireAction | null {
    return wire === "write_pending" ? this.step(conn, "write", "writeReady", () => conn.proto.writeReady()) : wire;
  }

  private emit(conn: Connection, wire: WireAction | null): void {
    if (conn.tls && wire !== "close") {
      // what to arm once the ciphertext is out: settle decides
      if (wire !== null) conn.tlsNext = wire;
      this.tlsSettleSoon(conn);
      return;
    }
    if (wire === "close") this.closeConnection(conn, undefined, true);
    else if (wire !== null) this.sink.act(conn.id, wire);
  }

  /** Nothing is armed until the promise settles. */
  private pause(conn: Connection, mode: Mode, name: string, r: Promise<Action>): void {
    conn.paused = true;
    const timer =
      this.callbackTimeout > 0
        ? setTimeout(() => {
            const e = new ReactorError("ECALLBACKTIMEOUT", `${name} did not settle within ${this.callbackTimeout} ms`);
            this.handlerFailed(conn, name, e, true);
            this.sink.wake();
          }, this.callbackTimeout)
        : undefined;
    r.then(
      (a) => {
        if (conn.closed) return;
        const wire = this.toWire(conn, mode, a, name);
        this.emit(conn, mode === "read" ? this.writeAtOnce(conn, wire) : wire);
      },
      (e) => this.handlerFailed(conn, name, e, true),
    ).finally(() => {
      clearTimeout(timer);
      conn.paused = false;
      conn.lastActive = Date.now();
      this.sink.wake();
    });
  }

  /** Action -> what Erlang arms; null when the action was invalid (conn closed). */
  private toWire(conn: Connection, mode: Mode, a: unknown, name: string): WireAction | null {
    let wire: WireAction;
    switch (a) {
      case "continue":
        wire = mode === "read" ? "read_pending" : "write_pending";
        break;
      case "read_pending":
      case "write_pending":
      case "close":
        wire = a;
        break;
      default: {
        const err = new ReactorError(
          "EINVALIDACTION",
          `${name} returned ${describe(a)}; expected "continue", "write_pending", "read_pending" or "close"`,
        );
        this.errors++;
        this.sink.log("error", conn.id, err.message);
        this.closeConnection(conn, err, true);
        return null;
      }
    }
    if (wire === "read_pending") {
      const queued = conn.proto.writeBuffer.length + conn.proto.datagrams.length;
      // Backpressure: a reader that does not keep up stops us reading more.
      if (this.highWater > 0 && queued >= this.highWater) return "write_pending";
      // After EOF there is nothing left to read: wanting to read means done,
      // once what is queued is written.
      if (conn.eof) return queued > 0 ? "write_pending" : "close";
    }
    return wire;
  }

  private closeIdle(): void {
    const limit = Date.now() - this.idleTimeout;
    for (const conn of [...this.conns.values()]) {
      if (!conn.paused && conn.lastActive < limit) {
        this.closeConnection(conn, new ReactorError("EIDLETIMEOUT", `idle for more than ${this.idleTimeout} ms`), true);
        this.sink.wake();
      }
    }
  }

  private handlerFailed(conn: Connection, name: string, e: unknown, tellErlang: boolean): void {
    if (conn.closed) return;
    const err = e instanceof Error ? e : new ReactorError("EHANDLER", `${name} threw ${describe(e)}`);
    if (isSystemError(e)) {
      // The connection broke under the handler (EPIPE, ECONNRESET): not a bug.
      this.sink.log("debug", conn.id, `${name}: ${e.message}`);
    } else {
      this.errors++;
      this.sink.log("error", conn.id, `${name} failed: ${stackOf(e)}`);
    }
    this.closeConnection(conn, err, tellErlang);
  }

  private closeFd(fd: number): void {
    try {
      this.io.close(fd);
    } catch {
      /* EBADF: already gone */
    }
  }
}

function isThenable(v: unknown): v is Promise<Action> {
  return typeof v === "object" && v !== null && typeof (v as Promise<Action>).then === "function";
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined || typeof v !== "object") return String(v);
  return Object.prototype.toString.call(v);
}

export function stackOf(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : `non-Error thrown: ${describe(e)}`;
}
