// The engine: the table of connections, the dispatch of Erlang's events to
// them, their transport stacks, the idle sweep and the stats. What happens on
// one connection is connection.ts; how bytes move is the transports'.
import type { Io } from "./addon";
import type { ClientInfo, LogLevel, NackReason, Stats, TransportSpec, BatchAction } from "./types";
import { Clock, realClock } from "./clock";
import type { CloseBounds } from "./closing";
import { Connection, ConnectionHost, ConnectionState } from "./connection";
import { ReactorError, describe, stackOf } from "./errors";
import { DatagramTransport, Slab, StreamTransport, Traffic } from "./fd-transport";
import { WriteCork } from "./cork";
import { DEFAULTS } from "./limits";
import { Protocol, bind } from "./protocol";
import { ProxyLayer } from "./proxy-layer";
import { AdoptHook, ProtocolTable } from "./protocol-table";
import { TlsLayer } from "./tls";
import { StartTlsLayer } from "./starttls";
import { TlsConfig, TlsConfigs, TlsOptions } from "./tls-config";
import type { Transport } from "./transport";
import { GroupSink, Groups } from "./groups";
import type { ConnRef } from "./protocol";
import { Pid, Term, Tuple, atom } from "./term-types";

/** Where the engine's answers go; the port's Outbox gathers them into port
 * frames and action batches. The groups' joins and leaves go to Erlang too
 * (reactor_groups.erl). */
export interface Sink extends GroupSink {
  /** `drained`: the fd's last read drained it (RawFd.drained) */
  act(id: number, action: BatchAction, drained?: boolean): void;
  ack(id: number, action: BatchAction): void;
  nack(id: number, reason: NackReason): void;
  log(level: LogLevel, id: number | null, text: string): void;
  /** Something settled outside a frame's dispatch: flush soon. */
  wake(): void;
}

export interface ReactorOptions {
  /** the most bytes one read takes; each connection's reads adapt up to it */
  readSize?: number;
  /** a connection whose writeBuffer holds this many bytes stops reading until
   * it drains below it (0 = unbounded) */
  writeHighWater?: number;
  /** ms a handler's Promise may stay pending before its connection is closed (0 = none) */
  callbackTimeout?: number;
  /** ms without an event before a connection is closed (0 = none) */
  idleTimeout?: number;
  /** ms a graceful close may wait for the peer to take the last bytes before
   * it cuts the connection (0 = none) */
  closeTimeout?: number;
  /** ms a closed connection reads and drops what the peer still sends after
   * our FIN, so that the peer reads our answer instead of a reset (0 = none) */
  lingerTimeout?: number;
  /** bytes that lingering read drops at most (0 = only the time bounds it) */
  lingerMaxBytes?: number;
  /** the sink's far end lingers instead of Node (Erlang's poller: the
   * "linger" action); false: Node reads and drops itself, as the test
   * harness, which has no poller, does */
  pollerLingers?: boolean;
  /** messages a connection holds while its protocol does not take them; one
   * more destroys it (EMESSAGEOVERFLOW) */
  maxQueuedMessages?: number;
  /** time for every timeout (the test harness moves it by hand) */
  clock?: Clock;
  /** told of every connection that ends, with connectionLost's reason */
  onClose?: (id: number, reason: Error | undefined, summary: ClosedSummary) => void;
  /** told of every protocol callback that throws */
  onException?: (id: number, callback: string, error: unknown) => void;
}

/** A connection that ended: its bytes on the fd and how long it lived (ms). */
export interface ClosedSummary {
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
}

/** One live connection, as reactor_context:connections/1 reports it. */
export interface ConnectionSummary extends ClosedSummary {
  id: number;
  state: ConnectionState;
}

/** The tag of a connection ref (reactor:conn_ref()). */
const REACTOR_CONN = atom("reactor_conn");

/** A plain stream: no PROXY header, no TLS. */
const PLAIN: TransportSpec = { proxy: false, tls: false };

export class Reactor implements ConnectionHost {
  events = 0;
  errors = 0;
  readonly callbackTimeout: number;
  readonly writeHighWater: number;
  readonly closeBounds: CloseBounds;
  readonly maxQueuedMessages: number;
  readonly clock: Clock;
  /** the context's pid: what connection refs name (beam.self()) */
  self: Pid | undefined;
  /** messages the protocols took (messageReceived ran) */
  private messagesDelivered = 0;
  /** messages for a connection that had ended, or ended before it took them */
  private sentToEnded = 0;
  private readonly groups: Groups;
  private readonly onClose?: ReactorOptions["onClose"];
  private readonly onException?: ReactorOptions["onException"];
  /** bytes of the connections that ended (live ones count their own) */
  private readonly closedTraffic: Traffic = { bytesIn: 0, bytesOut: 0 };
  private readonly conns = new Map<number, Connection>();
  private readonly slab = new Slab();
  /** writes made while a slice of ready connections is served go out at its end */
  readonly cork = new WriteCork();
  private readonly readSize: number;
  private readonly idleTimeout: number;
  private readonly sweeper?: unknown;
  /** TLS configurations by the key Erlang gave them (or why one failed) */
  private readonly tlsConfigs = new TlsConfigs();

  constructor(
    readonly io: Io,
    readonly sink: Sink,
    /** the protocol factory, the fd -> Protocol map, the running connection */
    readonly protocols: ProtocolTable,
    opts: ReactorOptions = {},
  ) {
    this.readSize = opts.readSize ?? DEFAULTS.readSize;
    this.writeHighWater = opts.writeHighWater ?? DEFAULTS.writeHighWater;
    this.callbackTimeout = opts.callbackTimeout ?? DEFAULTS.callbackTimeout;
    this.idleTimeout = opts.idleTimeout ?? DEFAULTS.idleTimeout;
    this.closeBounds = {
      closeTimeout: opts.closeTimeout ?? DEFAULTS.closeTimeout,
      lingerTimeout: opts.lingerTimeout ?? DEFAULTS.lingerTimeout,
      lingerMaxBytes: opts.lingerMaxBytes ?? DEFAULTS.lingerMaxBytes,
      pollerLingers: opts.pollerLingers ?? false,
    };
    this.maxQueuedMessages = Math.max(1, opts.maxQueuedMessages ?? DEFAULTS.maxQueuedMessages);
    this.groups = new Groups(sink);
    this.clock = opts.clock ?? realClock;
    this.onClose = opts.onClose;
    this.onException = opts.onException;
    if (this.idleTimeout > 0) this.sweeper = this.clock.setInterval(() => this.closeIdle(), Math.max(10, this.idleTimeout / 4));
  }

  /** Stop the idle sweeper (the port exits instead; tests call this). */
  dispose(): void {
    if (this.sweeper !== undefined) this.clock.clearInterval(this.sweeper);
  }

  /** A TLS configuration that handoffs name by `key`; one that cannot be made
   * refuses those handoffs (tls_config_failed) with its reason logged. */
  addTlsConfig(key: number, opts: TlsOptions): Error | undefined {
    return this.tlsConfigs.add(key, opts);
  }

  get size(): number {
    return this.conns.size;
  }

  stats(): Stats {
    let buffered = 0;
    let unsent = 0;
    let queued = 0;
    let { bytesIn, bytesOut } = this.closedTraffic;
    for (const c of this.conns.values()) {
      buffered += c.proto.writeBuffer.length;
      unsent += c.unsent;
      queued += c.queuedMessages;
      bytesIn += c.traffic.bytesIn;
      bytesOut += c.traffic.bytesOut;
    }
    return {
      connections: this.conns.size,
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      events: this.events,
      errors: this.errors,
      buffered,
      tls_queued: unsent,
      messages_delivered: this.messagesDelivered,
      messages_queued: queued,
      sent_to_ended: this.sentToEnded,
    };
  }

  /** Every live connection: id, bytes, age, what it waits for. */
  connections(): ConnectionSummary[] {
    const now = this.clock.now();
    return [...this.conns.values()].map((c) => ({
      id: c.id,
      bytesIn: c.traffic.bytesIn,
      bytesOut: c.traffic.bytesOut,
      durationMs: now - c.since,
      state: c.state,
    }));
  }

  handoff(id: number, fd: number, info: ClientInfo, spec: TransportSpec = PLAIN): void {
    let proto: Protocol;
    try {
      proto = this.newProtocol();
    } catch (e) {
      this.errors++;
      this.sink.log("error", id, `protocol factory failed: ${stackOf(e)}`);
      this.refuse(id, fd, "factory_failed");
      return;
    }
    if (this.conns.has(id)) {
      // Erlang never reuses a live id; refuse rather than orphan the old one.
      this.refuse(id, fd, "duplicate_id");
      return;
    }
    const tls = this.tlsConfigs.get(spec.tls);
    const starttls = this.tlsConfigs.get(spec.starttls ?? false);
    // (an Error may come from another realm: test what a config is, not what an error is)
    const bad = (notConfig(tls) ?? notConfig(starttls)) as Error | undefined;
    if (bad) {
      this.errors++;
      this.sink.log("error", id, `TLS options of this connection: ${bad.message}`);
      this.refuse(id, fd, "tls_config_failed");
      return;
    }
    const traffic: Traffic = { bytesIn: 0, bytesOut: 0 };
    const socket = info.type !== "pipe" && info.type !== "tty";
    const bottom =
      info.type === "udp" || info.type === "unix_dgram"
        ? new DatagramTransport(this.io, fd, this.slab, traffic, this.readSize, socket)
        : new StreamTransport(this.io, fd, this.slab, traffic, this.readSize, socket, this.cork);
    if (spec.nodelay) bottom.hasOption("nodelay", 1);
    // PROXY first, as ranch reads it: the header comes in clear, before any TLS.
    let top: Transport = bottom;
    if (spec.proxy) top = new ProxyLayer(top, info);
    if (tls instanceof TlsConfig) top = new TlsLayer(top, tls, info, this.writeHighWater);
    else if (starttls instanceof TlsConfig && !top.datagram) top = new StartTlsLayer(top, starttls, this.writeHighWater);
    // What the caller read before the handoff is the stack's first read.
    const preread = spec.preread !== undefined && spec.preread.length > 0 && bottom instanceof StreamTransport;
    if (preread) bottom.unshift(spec.preread!);
    const conn = new Connection(id, proto, top, this, bottom, traffic);
    bind(proto, conn.handle);
    proto.fd = fd;
    proto.clientInfo = info;
    this.conns.set(id, conn);
    this.protocols.attach(fd, proto);
    this.events++;
    const start = conn.start(preread);
    if ("ack" in start) this.sink.ack(id, start.ack);
    else this.sink.nack(id, start.nack);
  }

  readReady(id: number): void {
    const conn = this.conns.get(id);
    if (!conn) return; // stale: closed while the event was in flight
    this.events++;
    conn.readable();
  }

  writeReady(id: number): void {
    const conn = this.conns.get(id);
    if (!conn) return;
    this.events++;
    conn.writable();
  }

  /** A message from Erlang for connection `id` (reactor:send/2); one for a
   * connection that has ended is dropped and counted (sent_to_ended). */
  message(id: number, term: Term): void {
    const conn = this.conns.get(id);
    if (conn) conn.message(term);
    else this.sentToEnded++;
  }

  /** A publish to `group` (reactor:publish/2, beam.publish): Erlang sends
   * the context one, and every member connection here gets the term. */
  publish(group: Buffer, term: Term): void {
    for (const conn of this.groups.membersOf(group)) conn.message(term);
  }

  /** Erlang closed the connection (its copy is already gone). */
  closeFromErlang(id: number, why: string): void {
    this.conns.get(id)?.destroy(new ReactorError("ECLOSEDBYREACTOR", `closed by the reactor: ${why}`), false);
  }

  /** After a reload: offer every live connection to the new code's adopt
   * hook. One whose handler is still pending finishes on the old code; a hook
   * that throws or declines leaves it there too. Returns how many moved. */
  adopt(hook: AdoptHook): number {
    let moved = 0;
    for (const conn of [...this.conns.values()]) {
      if (conn.closed || conn.paused) continue;
      const old = conn.proto;
      let next: Protocol | undefined | void;
      try {
        next = this.protocols.runAs(conn.id, () => hook(old));
      } catch (e) {
        this.errors++;
        this.sink.log("error", conn.id, `adopt threw; the connection stays on the old code: ${stackOf(e)}`);
        continue;
      }
      if (next === undefined || next === old) continue;
      if (!(next instanceof Protocol) && typeof (next as Protocol)?.dataReceived !== "function") {
        this.errors++;
        this.sink.log("error", conn.id, `adopt returned ${describe(next)}, not a Protocol; the connection stays on the old code`);
        continue;
      }
      this.protocols.detach(old.fd, old);
      swap(conn, next);
      this.protocols.attach(next.fd, next);
      moved++;
    }
    return moved;
  }

  /** Graceful stop: every protocol gets connectionLost, every fd is closed. */
  closeAll(reason: Error): void {
    for (const conn of [...this.conns.values()]) conn.destroy(reason, false);
  }

  // ConnectionHost

  act(id: number, action: BatchAction, drained = false): void {
    this.sink.act(id, action, drained);
  }

  log(level: LogLevel, id: number, text: string): void {
    this.sink.log(level, id, text);
  }

  countError(): void {
    this.errors++;
  }

  exception(id: number, callback: string, error: unknown, text: string): void {
    this.errors++;
    this.sink.log("error", id, text);
    this.onException?.(id, callback, error);
  }

  wake(): void {
    this.sink.wake();
  }

  closing(conn: Connection, dropped: number): void {
    this.sentToEnded += dropped;
    this.groups.leaveAll(conn);
  }

  messagesDropped(n: number): void {
    this.sentToEnded += n;
  }

  delivered(): void {
    this.messagesDelivered++;
  }

  refOf(id: number): ConnRef {
    if (!this.self) throw Object.assign(new Error("the context's pid is not known yet"), { code: "ENOTCONN" });
    return new Tuple<Term>([REACTOR_CONN, this.self, id]);
  }

  join(conn: Connection, group: Buffer): Promise<void> {
    return this.groups.join(conn, group);
  }

  /** Erlang's context is in the pg group of connection `id`'s join. */
  joinedOnErlang(id: number, group: Buffer): void {
    this.groups.joinedOnErlang(id, group);
  }

  leave(conn: Connection, group: Buffer): void {
    this.groups.leave(conn, group);
  }

  lost(conn: Connection, reason: Error | undefined): void {
    this.protocols.detach(conn.proto.fd, conn.proto);
    const { bytesIn, bytesOut } = conn.traffic;
    this.onClose?.(conn.id, reason, { bytesIn, bytesOut, durationMs: this.clock.now() - conn.since });
  }

  forget(conn: Connection): void {
    this.conns.delete(conn.id);
    this.closedTraffic.bytesIn += conn.traffic.bytesIn;
    this.closedTraffic.bytesOut += conn.traffic.bytesOut;
  }

  private newProtocol(): Protocol {
    const factory = this.protocols.protocolFactory;
    if (!factory) throw new Error("no protocol factory is set");
    const proto = factory();
    if (!(proto instanceof Protocol) && typeof (proto as Protocol)?.dataReceived !== "function") {
      throw new TypeError(`the protocol factory returned ${describe(proto)}, not a Protocol`);
    }
    return proto;
  }

  private refuse(id: number, fd: number, why: NackReason): void {
    try {
      this.io.close(fd);
    } catch {
      /* EBADF: already gone */
    }
    this.sink.nack(id, why);
  }

  private closeIdle(): void {
    const limit = this.clock.now() - this.idleTimeout;
    for (const conn of [...this.conns.values()]) {
      if (!conn.paused && conn.lastActive < limit) {
        conn.destroy(new ReactorError("EIDLETIMEOUT", `idle for more than ${this.idleTimeout} ms`));
      }
    }
  }
}

/** New code adopts the connection (a reload's adopt hook): the fd, the peer
 * and every byte not yet written move to `next`; the old Protocol is detached. */
function swap(conn: Connection, next: Protocol): void {
  const old = conn.proto;
  next.fd = old.fd;
  next.clientInfo = old.clientInfo;
  for (const chunk of old.writeBuffer.peek(Infinity)) next.writeBuffer.push(chunk);
  old.writeBuffer.clear();
  next.datagrams.push(...old.datagrams.splice(0));
  bind(old, undefined);
  bind(next, conn.handle);
  conn.proto = next;
}

/** What a handoff's TLS key named when it is not a configuration: its Error. */
function notConfig(c: TlsConfig | Error | undefined): unknown {
  return c !== undefined && !(c instanceof TlsConfig) ? c : undefined;
}
