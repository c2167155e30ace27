// erlang-reactor/testing: drive a Protocol without sockets, BEAM or addon.
// The connection runs in the real engine (the same dispatch, actions,
// backpressure and timeouts as in the port) over an fd that lives in memory;
// the harness plays Erlang, delivering READ and WRITE when the engine armed
// them and the fd is ready. Time is a manual clock. No module state: make as
// many harnesses as a test likes. stubBeam() answers `beam` (beam-stub.ts).
import { ManualClock } from "./clock";
import { MemoryFd } from "./memory-fd";
import { Protocol } from "./protocol";
import { Reactor, Sink } from "./reactor";
import { ProtocolTable, toLoaded } from "./protocol-table";
import type { Server } from "net";
import type { SocketOption } from "./addon";
import type { ClientInfo, LogLevel, NackReason, BatchAction } from "./types";
import { decodeTerm } from "./term-decode";
import type { Encodable, Pid, Term } from "./term-types";
import { encodeTerm } from "./term-encode";

export interface HarnessOptions {
  /** what the protocol gets as clientInfo (default: a TCP peer on 127.0.0.1) */
  clientInfo?: ClientInfo;
  /** a PROXY protocol header comes first */
  proxyProtocol?: boolean;
  /** bytes the peer sent before the handoff, as a client that speaks first
   * does: the engine reads them at the handoff, right after connectionMade */
  sentBeforeHandoff?: string | Uint8Array;
  /** the context options of the same names */
  readSize?: number;
  writeHighWater?: number;
  callbackTimeout?: number;
  idleTimeout?: number;
  closeTimeout?: number;
  lingerTimeout?: number;
  lingerMaxBytes?: number;
  maxQueuedMessages?: number;
}

export interface LogLine {
  level: LogLevel;
  text: string;
}

/** Bytes to feed: the whole, or cut into the reads a slow network makes. */
export interface FeedOptions {
  /** cut at these offsets: each piece is a read of its own */
  at?: number[];
  /** cut every `every` bytes (1: byte by byte) */
  every?: number;
}

const FD = 3;
const ID = 1;
/** The context's pid the harness's connection refs name: <0.83.0> on
 * nonode@nohost, as term_to_binary(list_to_pid("<0.83.0>")) encodes it. */
const CONTEXT_PID = decodeTerm(
  Buffer.from([131, 88, 100, 0, 13, ...Buffer.from("nonode@nohost"), 0, 0, 0, 83, 0, 0, 0, 0, 0, 0, 0, 0]),
) as Pid;
const MAX_EVENTS_PER_PUMP = 100000;

/** One connection of a Protocol, in the real engine, over an fd in memory. */
export class ProtocolHarness<P extends Protocol = Protocol> {
  /** time as the engine sees it: advance() moves it */
  readonly clock = new ManualClock();
  /** each thing the engine armed or did for the connection, in order */
  readonly actions: BatchAction[] = [];
  /** what the engine logged (invalid actions, throws, timeouts) */
  readonly logs: LogLine[] = [];
  /** set once the connection ended: connectionLost's reason (undefined: a clean close) */
  lost: { reason: Error | undefined } | undefined;
  /** set when the handoff itself was refused (connectionMade threw, or returned nonsense) */
  refused: NackReason | undefined;
  /** the groups the connection is in now, as Erlang would know them */
  readonly groups = new Set<string>();
  /** every join and leave told to Erlang, in order */
  readonly groupLog: ["join" | "leave", string][] = [];
  private readonly fd = new MemoryFd();
  private readonly reactor: Reactor;
  private readonly protocols = new ProtocolTable();
  private armed: BatchAction | null = null;
  private taken = 0;
  private pumping = false;
  private scheduled = false;

  constructor(protocol: (new () => P) | (() => P) | Server, opts: HarnessOptions = {}) {
    const make = toLoaded(protocol).factory as () => P;
    this.protocols.setProtocolFactory(() => (this.last = make()));
    const sink: Sink = {
      act: (_id, a) => this.arm(a),
      ack: (_id, a) => this.arm(a),
      nack: (_id, why) => (this.refused = why),
      log: (level, _id, text) => this.logs.push({ level, text }),
      wake: () => this.pumpSoon(),
      joined: (id, group) => {
        this.groups.add(group.toString());
        this.groupLog.push(["join", group.toString()]);
        this.reactor.joinedOnErlang(id, group); // as a context acknowledges it: join()'s Promise resolves
      },
      left: (_id, group) => {
        this.groups.delete(group.toString());
        this.groupLog.push(["leave", group.toString()]);
      },
    };
    this.reactor = new Reactor(this.fd, sink, this.protocols, {
      readSize: opts.readSize,
      writeHighWater: opts.writeHighWater,
      callbackTimeout: opts.callbackTimeout,
      idleTimeout: opts.idleTimeout,
      closeTimeout: opts.closeTimeout,
      lingerTimeout: opts.lingerTimeout,
      lingerMaxBytes: opts.lingerMaxBytes,
      maxQueuedMessages: opts.maxQueuedMessages,
      clock: this.clock,
      onClose: (_id, reason) => (this.lost = { reason }),
    });
    this.reactor.self = CONTEXT_PID;
    const info: ClientInfo = opts.clientInfo ?? { type: "tcp", addr: "127.0.0.1", port: 40000, family: "inet" };
    if (opts.sentBeforeHandoff !== undefined) this.fd.inbox.push(Buffer.from(opts.sentBeforeHandoff));
    this.reactor.handoff(ID, FD, info, { proxy: !!opts.proxyProtocol, tls: false });
    this.pump();
  }

  /** The Protocol instance serving the connection. */
  get protocol(): P {
    if (!this.last) throw new Error("the protocol factory made no Protocol");
    return this.last;
  }
  private last: P | undefined;

  /** The connection has ended (either side closed it). */
  get closed(): boolean {
    return this.lost !== undefined || this.refused !== undefined;
  }

  /** Bytes from the peer: whole, or cut into separate reads. */
  feed(data: string | Uint8Array, opts: FeedOptions = {}): this {
    const b = typeof data === "string" ? Buffer.from(data) : Buffer.from(data);
    const cuts = opts.every ? range(opts.every, b.length, opts.every) : (opts.at ?? []);
    let from = 0;
    for (const at of [...cuts, b.length]) {
      if (at > from) this.fd.inbox.push(b.subarray(from, Math.min(at, b.length)));
      from = Math.max(from, at);
    }
    this.pump();
    return this;
  }

  /** One datagram from `addr:port` (a UDP connection: clientInfo type "udp"). */
  feedDatagram(data: string | Uint8Array, from: { addr: string; port: number }): this {
    this.fd.datagramsIn.push({ data: Buffer.from(typeof data === "string" ? Buffer.from(data) : data), ...from });
    this.pump();
    return this;
  }

  /** The peer closed its side (EOF). */
  end(): this {
    this.fd.inbox.push("eof");
    this.pump();
    return this;
  }

  /** The peer stops reading after `bytes` more (a slow reader: writes go partial). */
  slowPeer(bytes: number): this {
    this.fd.room = bytes;
    return this;
  }

  /** The peer reads everything again: WRITE is delivered if the engine armed it. */
  drain(): this {
    this.fd.room = undefined;
    this.pump();
    return this;
  }

  /** Everything the peer received. */
  written(): Buffer {
    return Buffer.concat(this.fd.received);
  }

  /** What the peer received since the last take(), as a string (UTF-8). */
  take(): string {
    const all = this.written();
    const out = all.subarray(this.taken);
    this.taken = all.length;
    return out.toString();
  }

  /** Datagrams sent with sendTo. */
  sentDatagrams(): { data: Buffer; addr: string; port: number }[] {
    return this.fd.datagramsOut;
  }

  /** The socket options the connection set (setNoDelay: `nodelay`,
   * setKeepAlive: `keepalive`, `keepidle` in seconds), as getsockopt would
   * read them back. */
  get socketOptions(): Readonly<Partial<Record<SocketOption, number>>> {
    return this.fd.options;
  }

  /** The peer sees the end of what we send (shutdownWrite or a close). */
  get peerSawEnd(): boolean {
    return this.fd.shutWrite || this.fd.closed;
  }

  /** Let pending Promises (async handlers) settle and their results take effect. */
  async settle(): Promise<this> {
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setImmediate(r));
      this.pump();
    }
    return this;
  }

  /** Move the engine's time forward: timeouts that fall due fire, in order. */
  async advance(ms: number): Promise<this> {
    this.clock.advance(ms);
    this.pump();
    return this.settle();
  }

  /** Erlang sends the connection a message (reactor:send/2 to its ref):
   * `messageReceived` gets `term` as it would from Erlang, encoded and
   * decoded as the bridge does (so a string arrives as a Buffer, a safe
   * integer as a number; docs/bridge.md). */
  message(term: Encodable): this {
    this.reactor.message(ID, bridged(term));
    this.pump();
    return this;
  }

  /** Erlang publishes to `group` (reactor:publish/2): the connection's
   * messageReceived gets the term if it is in the group. */
  publish(group: string | Uint8Array, term: Encodable): this {
    this.reactor.publish(Buffer.from(typeof group === "string" ? Buffer.from(group) : group), bridged(term));
    this.pump();
    return this;
  }

  /** The engine's counters, as reactor_context:info/1 gets them from Node. */
  stats(): ReturnType<Reactor["stats"]> {
    return this.reactor.stats();
  }

  /** Erlang closes the connection (a stop, a limit). */
  closeFromErlang(why = "closed by the test"): this {
    this.reactor.closeFromErlang(ID, why);
    return this;
  }

  private arm(a: BatchAction): void {
    this.actions.push(a);
    this.armed = a === "close" ? null : a;
  }

  private pumpSoon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Deliver every event that is due, as enif_select would, one at a time.
   * Not corked as the port's slices are (cork.ts): a write here meets the
   * slow peer at once, so a protocol's own backpressure (writeBuffer,
   * writeReady, 'drain') can be driven step by step. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let i = 0; i < MAX_EVENTS_PER_PUMP; i++) {
        if (this.armed === "read_pending" && this.fd.readable) {
          this.armed = null;
          this.reactor.readReady(ID);
        } else if (this.armed === "write_pending" && this.fd.writable) {
          this.armed = null;
          this.reactor.writeReady(ID);
        } else {
          return;
        }
      }
      throw new Error(`the connection asked for ${MAX_EVENTS_PER_PUMP} events in a row without waiting for the peer`);
    } finally {
      this.pumping = false;
    }
  }
}

/** Open a connection of `protocol` in a harness: a Protocol class, a
 * factory, or a stream handler (a net.Server such as `http.createServer(app)`:
 * its 'connection' gets the connection's Socket). */
export function connect<P extends Protocol>(protocol: (new () => P) | (() => P), opts?: HarnessOptions): ProtocolHarness<P>;
export function connect(server: Server, opts?: HarnessOptions): ProtocolHarness;
export function connect<P extends Protocol>(protocol: (new () => P) | (() => P) | Server, opts?: HarnessOptions): ProtocolHarness<P> {
  return new ProtocolHarness(protocol, opts);
}

/** A term as the other side of the bridge gets it. */
function bridged(term: Encodable): Term {
  return decodeTerm(encodeTerm(term));
}

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i += step) out.push(i);
  return out;
}

export type { ClientInfo, BatchAction };
export { stubBeam } from "./beam-stub";
export type { BeamFunction, BeamStub, StubbedCall } from "./beam-stub";
/** @deprecated The old name of {@link BatchAction}. */
export type WireAction = BatchAction;
