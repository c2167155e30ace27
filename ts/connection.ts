// One connection's state machine, on top of its transport stack: runs the
// protocol's callbacks, turns what they return into what the fd is armed for
// next, pauses while a handler's Promise is pending, and closes exactly once.
import type { ClientInfo, LogLevel, BatchAction } from "./types";
import { ReactorError, describe, isSystemError, stackOf } from "./errors";
import { bind } from "./protocol";
import type { Action, ConnectionHandle, Peer, Protocol, TimerKind } from "./protocol";
import type { Clock } from "./clock";
import type { ProtocolTable } from "./protocol-table";
import type { Transport, Upstream } from "./transport";
import type { Traffic } from "./fd-transport";

export type ConnectionState = "opening" | "reading" | "writing" | "paused" | "closed";

/** What a connection needs from its engine. */
export interface ConnectionHost {
  readonly protocols: ProtocolTable;
  readonly clock: Clock;
  /** ms a handler's Promise may stay pending (0 = none) */
  readonly callbackTimeout: number;
  /** writeBuffer bytes past which the connection stops reading (0 = none) */
  readonly writeHighWater: number;
  act(id: number, wire: BatchAction): void;
  log(level: LogLevel, id: number, text: string): void;
  /** a protocol or a peer did something wrong */
  countError(): void;
  /** a protocol callback threw: counted, logged with `text`, reported */
  exception(id: number, callback: string, error: unknown, text: string): void;
  /** settled outside a dispatch: flush soon */
  wake(): void;
  /** the connection closed: drop it from the table */
  forget(conn: Connection, reason: Error | undefined): void;
}

/** How a handoff starts: the first action for the ack, or why it is refused. */
export type Start = { ack: BatchAction } | { nack: "connection_made_failed" | "invalid_action" };

type Mode = "read" | "write";
const FAILED = Symbol("failed");

export class Connection implements Upstream, ConnectionHandle {
  closed = false;
  paused = false;
  lastActive: number;
  /** what the protocol wants armed next (read or write) */
  private next: BatchAction = "read_pending";
  /** connectionMade ran: the stack opened */
  private made = false;
  private eof = false;
  /** Erlang knows the connection (its ack was sent): a close is told */
  private announced = false;
  private settling = false;
  /** WRITE was armed for a layer's bytes (ciphertext), not for the protocol */
  private armedForLayers = false;
  /** the protocol's own timers: the idle one counts from the last data */
  private readonly timers: Partial<Record<TimerKind, { ms: number; handle: unknown }>> = {};
  private lastData = 0;

  /** when the handoff arrived (engine clock, ms) */
  readonly since: number;

  constructor(
    readonly id: number,
    /** the code serving it; a reload's adopt hook may hand it to new code */
    public proto: Protocol,
    private readonly top: Transport,
    private readonly host: ConnectionHost,
    /** the raw fd read behind Protocol.read */
    private readonly rawRead: (size: number) => Buffer | null,
    /** this connection's bytes on the fd */
    readonly traffic: Traffic = { bytesIn: 0, bytesOut: 0 },
  ) {
    top.up = this;
    this.lastActive = this.since = host.clock.now();
  }

  /** What it is doing, for reactor_context:connections/1. */
  get state(): ConnectionState {
    if (this.closed) return "closed";
    if (!this.made) return "opening";
    if (this.paused) return "paused";
    return this.next === "write_pending" ? "writing" : "reading";
  }

  /** The handoff: a stack that is open already runs connectionMade now and
   * its first action is the ack; one that opens later (a PROXY header, a TLS
   * handshake) starts reading for it. */
  start(): Start {
    if (this.top.opensLater) {
      this.announced = true;
      return { ack: "read_pending" };
    }
    const first = this.connectionMade();
    if (first === FAILED) return { nack: "connection_made_failed" };
    if (first === null) return { nack: "invalid_action" };
    this.announced = true;
    if (first === "close") this.close(undefined, false);
    else this.next = first;
    return { ack: first };
  }

  // Entry points: an event from Erlang, a settled Promise, a layer's wake.

  readable(): void {
    this.touch();
    this.top.readable();
    this.settle();
  }

  writable(): void {
    this.touch();
    if (!this.top.flush() || this.closed) {
      if (!this.closed) this.host.act(this.id, "write_pending");
      return;
    }
    if (this.made && !this.paused && !this.armedForLayers) {
      this.next = "read_pending";
      this.apply(this.step("write", "writeReady", () => this.proto.writeReady()));
    }
    this.settle();
  }

  /** New code takes over (a reload's adopt hook): the fd, the peer and every
   * byte not yet written move to `next`; the old Protocol is detached. */
  swap(next: Protocol): void {
    const old = this.proto;
    next.fd = old.fd;
    next.clientInfo = old.clientInfo;
    for (const chunk of old.writeBuffer.peek(Infinity)) next.writeBuffer.push(chunk);
    old.writeBuffer.clear();
    next.datagrams.push(...old.datagrams.splice(0));
    bind(old, undefined);
    bind(next, this);
    this.proto = next;
  }

  /** The protocol, a layer, Erlang, the engine's stop or idle sweep closes it. */
  close(reason?: Error, tellErlang = true): void {
    if (this.closed) return;
    this.closed = true;
    this.proto.closed = true;
    this.setTimer("idle", 0);
    this.setTimer("deadline", 0);
    this.top.close();
    this.host.forget(this, reason);
    if (tellErlang && this.announced) this.host.act(this.id, "close");
    try {
      this.host.protocols.runAs(this.id, () => this.proto.connectionLost(reason));
    } catch (e) {
      this.host.exception(this.id, "connectionLost", e, `connectionLost threw: ${stackOf(e)}`);
    }
    this.host.wake(); // from a timer or a promise, too: the close goes out
  }

  /** Bytes taken from the protocol that the kernel has not taken yet. */
  get unsent(): number {
    return this.top.unsent;
  }

  // Upstream: what the top layer reports.

  open(patch: Partial<ClientInfo>): void {
    if (this.closed) return;
    if (Object.keys(patch).length) this.proto.clientInfo = { ...this.proto.clientInfo, ...patch };
    const first = this.connectionMade();
    if (first === FAILED) return;
    this.apply(first === null ? null : this.writeAtOnce(first));
    this.settleIfLater();
  }

  data(buf: Buffer, from?: Peer): void {
    if (this.closed || !this.made) return;
    this.touch();
    this.lastData = this.lastActive;
    this.apply(this.writeAtOnce(this.step("read", "dataReceived", () => this.proto.dataReceived(buf, from))));
    this.settleIfLater();
  }

  end(): void {
    if (this.closed) return;
    if (!this.made) {
      this.close(undefined); // gone before its header or handshake was complete
      return;
    }
    this.eof = true;
    const keep = this.call("eofReceived", () => this.proto.eofReceived());
    if (keep === FAILED) return;
    // Like asyncio's transport.close(): what is queued is written first.
    this.next = keep || this.queued() > 0 ? "write_pending" : "read_pending";
    this.settleIfLater();
  }

  error(e: Error, logText?: string): void {
    if (this.closed) return;
    if (logText !== undefined) {
      this.host.countError();
      this.host.log("warning", this.id, logText);
    }
    this.close(e);
  }

  wake(): void {
    this.settleSoon();
  }

  wantsMore(): boolean {
    return !this.closed && !this.paused && this.next === "read_pending";
  }

  dropped(size: number, from: Peer): void {
    try {
      this.host.protocols.runAs(this.id, () => this.proto.datagramTooLarge(size, from));
    } catch (e) {
      this.host.log("error", this.id, `datagramTooLarge threw: ${stackOf(e)}`);
    }
  }

  // ConnectionHandle: the protocol's own calls.

  read(size: number): Buffer | null {
    return this.rawRead(size);
  }

  writev(bufs: Uint8Array[]): number {
    return this.top.writev(bufs);
  }

  sendTo(data: Uint8Array, addr: string, port: number): number {
    return this.top.sendTo(data, addr, port);
  }

  shutdownWrite(): void {
    this.top.shutdownWrite();
  }

  setTimer(kind: TimerKind, ms: number): void {
    const clock = this.host.clock;
    const t = this.timers[kind];
    if (t) clock.clearTimeout(t.handle);
    delete this.timers[kind];
    if (!(ms > 0) || this.closed) return;
    if (kind === "idle") this.lastData = clock.now();
    this.timers[kind] = { ms, handle: clock.setTimeout(() => this.timerFired(kind), ms) };
  }

  /** An idle timer that fires early (data came since it was set) waits the
   * rest: data never touches a timer, so it costs nothing per read. */
  private timerFired(kind: TimerKind): void {
    const t = this.timers[kind];
    if (!t || this.closed) return;
    if (kind === "idle") {
      const left = this.lastData + t.ms - this.host.clock.now();
      if (left > 0) {
        t.handle = this.host.clock.setTimeout(() => this.timerFired(kind), left);
        return;
      }
    }
    delete this.timers[kind];
    const r = this.call("timedOut", () => this.proto.timedOut(kind));
    if (r === FAILED) return;
    if (r === undefined || r === "close") {
      const e =
        kind === "idle"
          ? new ReactorError("EIDLETIMEOUT", `no data for ${t.ms} ms`)
          : new ReactorError("EDEADLINE", `the deadline of ${t.ms} ms passed`);
      this.close(e);
      return;
    }
    if (kind === "idle") this.setTimer("idle", t.ms); // counts again
    this.apply(this.toWire("read", r, "timedOut"));
    this.settle();
    this.host.wake();
  }

  // The state machine.

  /** Arm what the protocol wants, once the layers have what they need. A
   * layer that works on its own tick (TLS) settles there instead. */
  private settle(): void {
    if (this.top.settlesLater) this.settleSoon();
    else this.arm();
  }

  private settleIfLater(): void {
    if (this.top.settlesLater) this.settleSoon();
  }

  private settleSoon(): void {
    if (this.settling || this.closed) return;
    this.settling = true;
    setImmediate(() => {
      this.settling = false;
      this.top.flush(); // what it leaves, interest() arms WRITE for
      this.arm();
      this.host.wake();
    });
  }

  private arm(): void {
    if (this.closed || this.paused) return;
    const wire = this.top.interest(this.next);
    this.armedForLayers = wire !== this.next;
    // After EOF, wanting to read means done: once every layer's bytes are out.
    if (wire === "read_pending" && this.eof) this.close(undefined);
    else this.host.act(this.id, wire);
  }

  /** What a handler said: close now, or remember what to arm. */
  private apply(wire: BatchAction | null): void {
    if (wire === "close") this.close(undefined);
    else if (wire !== null && !this.closed) this.next = wire;
  }

  private connectionMade(): BatchAction | null | typeof FAILED {
    this.made = true;
    const first = this.call("connectionMade", () => this.proto.connectionMade(this.proto.fd, this.proto.clientInfo));
    if (first === FAILED) return FAILED;
    return first === undefined ? "read_pending" : this.toWire("read", first, "connectionMade");
  }

  /** Runs a protocol callback with its connection named in what it logs; a
   * throw ends the connection (logged) and gives FAILED. */
  private call<T>(name: string, fn: () => T): T | typeof FAILED {
    try {
      return this.host.protocols.runAs(this.id, fn, true);
    } catch (e) {
      this.handlerFailed(name, e);
      return FAILED;
    }
  }

  /** Runs a handler: what to arm next, or null when nothing is to be armed
   * now (its Promise is pending, or the connection ended). */
  private step(mode: Mode, name: string, fn: () => Action | Promise<Action>): BatchAction | null {
    if (this.closed) return null;
    const r = this.call(name, fn);
    if (r === FAILED) return null;
    if (isThenable(r)) {
      this.pause(mode, name, r);
      return null;
    }
    return this.closed ? null : this.toWire(mode, r, name);
  }

  /** "write_pending" from a read handler: the fd can nearly always take bytes
   * now, so writeReady runs at once and WRITE is armed only if it asks again
   * (the kernel took less than everything). One round trip instead of two. */
  private writeAtOnce(wire: BatchAction | null): BatchAction | null {
    return wire === "write_pending" ? this.step("write", "writeReady", () => this.proto.writeReady()) : wire;
  }

  /** Nothing is armed until the Promise settles. */
  private pause(mode: Mode, name: string, r: Promise<Action>): void {
    this.paused = true;
    const limit = this.host.callbackTimeout;
    const clock = this.host.clock;
    const timer =
      limit > 0
        ? clock.setTimeout(() => {
            this.handlerFailed(name, new ReactorError("ECALLBACKTIMEOUT", `${name} did not settle within ${limit} ms`));
            this.host.wake();
          }, limit)
        : undefined;
    const resume = () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      this.paused = false;
      this.touch();
    };
    r.then(
      (a) => {
        resume();
        if (this.closed) return;
        const wire = this.toWire(mode, a, name);
        this.apply(mode === "read" ? this.writeAtOnce(wire) : wire);
        this.settle();
        this.host.wake();
      },
      (e) => {
        resume();
        this.handlerFailed(name, e);
        this.host.wake();
      },
    );
  }

  /** Action -> what to arm; null when the action was invalid (closed). */
  private toWire(mode: Mode, a: unknown, name: string): BatchAction | null {
    let wire: BatchAction;
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
        this.host.countError();
        this.host.log("error", this.id, err.message);
        this.close(err);
        return null;
      }
    }
    // Backpressure: a reader that does not keep up stops us reading more.
    if (wire === "read_pending" && this.host.writeHighWater > 0 && this.queued() >= this.host.writeHighWater) {
      return "write_pending";
    }
    // After EOF, what is queued is written before the close.
    if (wire === "read_pending" && this.eof && this.queued() > 0) return "write_pending";
    return wire;
  }

  private queued(): number {
    return this.proto.writeBuffer.length + this.proto.datagrams.length;
  }

  private touch(): void {
    this.lastActive = this.host.clock.now();
  }

  private handlerFailed(name: string, e: unknown): void {
    if (this.closed) return;
    const err = e instanceof Error ? e : new ReactorError("EHANDLER", `${name} threw ${describe(e)}`);
    if (isSystemError(e)) {
      // The connection broke under the handler (EPIPE, ECONNRESET): not a bug.
      this.host.log("debug", this.id, `${name}: ${e.message}`);
    } else {
      this.host.exception(this.id, name, e, `${name} failed: ${stackOf(e)}`);
    }
    this.close(err);
  }
}

function isThenable(v: unknown): v is Promise<Action> {
  return typeof v === "object" && v !== null && typeof (v as Promise<Action>).then === "function";
}
