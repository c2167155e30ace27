// One connection's state machine, on top of its transport stack: runs the
// protocol's callbacks, turns what they return into what the fd is armed for
// next, pauses while a handler's Promise is pending, and ends exactly once:
// gracefully (closing.ts) or abortively.
import type { ClientInfo, BatchAction } from "./types";
import type { ConnectionHost, ConnectionState, Start } from "./connection-host";
import { ReactorError, describe, isSystemError, stackOf } from "./errors";
import { kOwnAsync, type Action, type ConnectionHandle, type Peer, type Protocol, type TimerKind } from "./protocol";
import type { Term } from "./term-types";
import type { Transport, Upstream } from "./transport";
import type { RawFd, Traffic } from "./fd-transport";
import { Mode, awaitAction, isThenable, batchActionOf } from "./actions";
import { Ending } from "./closing";
import { ProtocolTimers } from "./timers";
import { Inbox } from "./inbox";
import { Handle } from "./handle";

export type { ConnectionHost, ConnectionState, Start };

const FAILED = Symbol("failed");

export class Connection implements Upstream {
  paused = false;
  lastActive: number;
  /** what the protocol wants armed next (read or write) */
  private next: BatchAction = "read_pending";
  /** connectionMade ran: the stack opened */
  private made = false;
  private eof = false;
  private readonly ending: Ending;
  private settling = false;
  /** WRITE was armed for a layer's bytes (ciphertext), not for the protocol */
  private armedForLayers = false;
  /** the protocol's own timers: made by its first setIdleTimeout or setDeadline */
  private timers: ProtocolTimers | undefined;
  /** messages the protocol has not taken yet (it was paused, or behind on writes) */
  private inbox: Inbox | undefined;
  /** protocol callbacks running now: a write() arms nothing then, their Action does */
  private running = 0;
  /** write() left bytes in writeBuffer: WRITE is armed before READ until they are out */
  private owesFlush = false;
  /** what Erlang has armed, as told since the last event (one-shot: an event disarms) */
  private armedAs: BatchAction | null = null;
  /** the protocol paused reading (Protocol.pauseReading): READ is not armed */
  private readStopped = false;

  /** what the protocol sees of it (Protocol's own calls) */
  readonly handle: ConnectionHandle;
  /** when the handoff arrived (engine clock, ms) */
  readonly since: number;

  constructor(
    readonly id: number,
    /** the code serving it; a reload's adopt hook may hand it to new code */
    public proto: Protocol,
    private readonly top: Transport,
    private readonly host: ConnectionHost,
    /** the fd under the layers (Protocol.read, socket options, drained) */
    private readonly raw: RawFd,
    /** this connection's bytes on the fd */
    readonly traffic: Traffic = { bytesIn: 0, bytesOut: 0 },
  ) {
    top.up = this;
    this.lastActive = this.since = host.clock.now();
    this.handle = new Handle(this, top, host, raw);
    this.ending = new Ending(this, top, host);
  }

  /** @internal A close began (Ending): the protocol's timers stop, its
   * waiting messages are dropped. */
  callbacksStopped(): void {
    this.timers?.clear();
    this.host.closing(this, this.inbox?.clear() ?? 0);
  }

  /** The messages waiting for the protocol: made with the first message (most connections get none). */
  private openInbox(): Inbox {
    return (this.inbox ??= new Inbox(this.host.maxQueuedMessages, () => this.takesMessages(), (t) => this.deliver(t)));
  }

  /** A close began: the protocol gets no more callbacks. */
  get closed(): boolean {
    return this.ending.closed;
  }

  /** What it is doing, for reactor_context:connections/1. */
  get state(): ConnectionState {
    if (this.ending.released) return "closed";
    if (this.closed) return "closing";
    if (!this.made) return "opening";
    if (this.paused || (this.readStopped && this.next === "read_pending")) return "paused";
    return this.next === "write_pending" ? "writing" : "reading";
  }

  /** The handoff: a stack that is open already runs connectionMade now and
   * its first action is the ack; one that opens later (a PROXY header, a TLS
   * handshake) starts reading for it. `preread`: bytes read before the
   * handoff wait at the bottom of the stack; they are read now, before the
   * ack, so the ack says what the protocol wants after them. A stream whose
   * protocol sent nothing yet is read now too: most clients speak first (a
   * request, a ClientHello, a PROXY header), and their bytes have usually
   * come by the time Node has the fd, so they are taken without a round
   * through Erlang's poller; one that greeted its peer waits for the answer.
   * A pipe or a tty is not read (its write end cannot be: EBADF). */
  start(preread = false): Start {
    if (!this.top.opensLater) {
      const first = this.connectionMade();
      if (first === FAILED) return { nack: "connection_made_failed" };
      if (first === null) return { nack: "invalid_action" };
      if (first === "close") this.close();
      else if (!this.closed) this.next = first;
    }
    const speaksFirst =
      this.raw.socket && !this.top.datagram && this.traffic.bytesOut === 0 && this.proto.writeBuffer.length === 0;
    if ((preread || (speaksFirst && this.wantsMore())) && !this.closed) {
      // Erlang does not know the connection yet: what a close arms goes into the ack
      if (this.next === "write_pending") this.apply(this.step("write", "writeReady", () => this.proto.writeReady()));
      if (!this.closed && this.next === "read_pending") this.top.readable();
      // after EOF, wanting to read means done, as arm() has it: not while
      // reading is paused (a stream handler's Socket ends the connection itself)
      if (!this.closed && this.eof && !this.paused && !this.readStopped && this.top.interest(this.next) === "read_pending") {
        this.close();
      }
    }
    // a handler paused on a Promise: READ may come before it settles (readable waits for it)
    const ack = this.ending.announce(this.top.interest(this.next));
    this.armedAs = ack;
    return { ack };
  }

  // Entry points: an event from Erlang, a settled Promise, a layer's wake.

  readable(): void {
    this.armedAs = null;
    this.raw.drained = false; // Erlang's poller sent this edge: only a read here drains the fd again
    // armed by an ack before a preread's handler paused: resuming arms again;
    // a handshake started on the live connection (startTls) goes on meanwhile
    if (this.paused && !this.top.handshaking) return;
    this.touch();
    if (this.ending.closing) return this.ending.closing.readable();
    if (this.readStopped) return; // armed before the protocol paused reading: readStart arms again
    this.top.readable();
    this.settle();
  }

  writable(): void {
    this.armedAs = null;
    this.touch();
    if (this.ending.closing) return this.ending.closing.run();
    if (!this.top.flush() || this.closed) {
      if (!this.closed) this.tell("write_pending");
      return;
    }
    if (this.made && !this.paused && !this.armedForLayers) {
      this.next = "read_pending";
      this.apply(this.step("write", "writeReady", () => this.proto.writeReady()));
      this.inbox?.drain(); // writeBuffer may be under the high water again
    }
    this.settle();
  }

  /** A message from Erlang (reactor:send/2, a publish to a group it is in):
   * taken now, or queued while a handler's Promise is pending or writeBuffer
   * is over the high water. Past max_queued_messages the connection is
   * destroyed, as Redis and NATS cut a slow subscriber: its peer sees the
   * loss instead of a silent gap. */
  message(term: Term): void {
    if (this.closed) return this.host.messagesDropped(1);
    const r = this.openInbox().offer(term);
    if (r === "taken") this.settle();
    else if (r === "full") {
      this.host.countError();
      this.destroy(
        new ReactorError("EMESSAGEOVERFLOW", `more than ${this.host.maxQueuedMessages} messages waited for the protocol (max_queued_messages)`),
      );
      this.host.messagesDropped(1); // this one, after the queue's
    }
  }

  /** Graceful close (Node's socket.end()): what the protocol queued goes
   * out, then close_notify and the FIN, connectionLost(reason) runs, then a
   * lingering read (closing.ts). The protocol's "close", close() and timers. */
  close(reason?: Error): void {
    // only a socket's peer can send after our end (a pipe has none to wait for)
    this.ending.close(reason, !this.eof && this.raw.socket);
  }

  /** Abortive close (Node's socket.destroy()): what is queued is dropped, the
   * fd closes now. Errors, Erlang, the engine's stop and idle sweep. */
  destroy(reason?: Error, tellErlang = true): void {
    this.ending.destroy(reason, tellErlang);
  }

  /** Messages waiting for the protocol. */
  get queuedMessages(): number {
    return this.inbox?.length ?? 0;
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
    this.inbox?.drain();
    this.settleIfLater();
  }

  data(buf: Buffer, from?: Peer): void {
    if (this.closed || !this.made) return;
    this.touch();
    this.timers?.data(this.lastActive);
    this.apply(this.writeAtOnce(this.step("read", "dataReceived", () => this.proto.dataReceived(buf, from))));
    this.settleIfLater();
  }

  end(): void {
    if (this.closed) return;
    if (!this.made) {
      this.destroy(undefined); // gone before its header or handshake was complete
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
    if (this.ending.released) return;
    if (logText !== undefined) {
      this.host.countError();
      this.host.log("warning", this.id, logText);
    }
    this.destroy(e);
  }

  wake(): void {
    this.settleSoon();
  }

  wantsMore(): boolean {
    return !this.closed && !this.paused && !this.readStopped && this.next === "read_pending";
  }

  dropped(size: number, from: Peer): void {
    this.notify("datagramTooLarge", () => this.proto.datagramTooLarge(size, from));
  }

  /** One datagram failed; the socket serves on. */
  datagramError(e: Error, to?: Peer): void {
    if (this.closed) return;
    this.host.countError();
    this.notify("datagramError", () => this.proto.datagramError(e, to));
  }

  /** A callback that ends nothing: a throw is logged. */
  private notify(name: string, fn: () => void): void {
    try {
      this.host.protocols.runAs(this.id, fn);
    } catch (e) {
      this.host.log("error", this.id, `${name} threw: ${stackOf(e)}`);
    }
  }

  // What the protocol's handle (handle.ts) asks.

  /** Protocol.write queued bytes (or a layer holds some): from outside a
   * callback, WRITE is armed now; in one, its Action arms it. */
  wrote(): void {
    const left = this.proto.writeBuffer.length > 0;
    if (left) this.owesFlush = true;
    if (this.running > 0 || this.closed || this.paused || (!left && this.top.unsent === 0)) return;
    if (left) this.next = "write_pending";
    this.settle();
    this.host.wake();
  }

  setTimer(kind: TimerKind, ms: number): void {
    if (!this.timers && (this.closed || !(ms > 0))) return; // nothing to clear
    (this.timers ??= new ProtocolTimers(this.host.clock, (k, t) => this.timedOut(k, t))).set(kind, this.closed ? 0 : ms);
  }

  /** Protocol.pauseReading: READ is armed no more; writes go on. */
  readStop(): void {
    this.readStopped = true;
  }

  /** Protocol.resumeReading: READ is armed again, now or by the Action of
   * the callback that runs. */
  readStart(): void {
    if (!this.readStopped) return;
    this.readStopped = false;
    if (this.running > 0 || this.closed || this.paused) return;
    this.settle();
    this.host.wake();
  }

  /** A protocol timer ran out: timedOut says close (graceful: a 408 it
   * queued goes out) or go on. */
  private timedOut(kind: TimerKind, ms: number): void {
    if (this.closed) return;
    const r = this.call("timedOut", () => this.proto.timedOut(kind));
    if (r === FAILED) return;
    if (r === undefined || r === "close") {
      const e =
        kind === "idle"
          ? new ReactorError("EIDLETIMEOUT", `no data for ${ms} ms`)
          : new ReactorError("EDEADLINE", `the deadline of ${ms} ms passed`);
      this.close(e);
      return;
    }
    if (kind === "idle") this.setTimer("idle", ms); // counts again
    this.apply(this.toBatchAction("read", r, "timedOut"));
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
    if (this.settling || this.ending.released) return;
    this.settling = true;
    setImmediate(() => {
      this.settling = false;
      if (this.ending.closing) this.ending.closing.run();
      else {
        this.top.flush(); // what it leaves, interest() arms WRITE for
        this.arm();
      }
      this.host.wake();
    });
  }

  private arm(): void {
    if (this.closed || (this.paused && !this.top.handshaking)) return;
    const interest = this.top.interest(this.next);
    this.armedForLayers = interest !== this.next;
    // Reading is paused (after EOF too: the protocol ends it, as a stream's end() does).
    if (interest === "read_pending" && this.readStopped) return;
    // After EOF, wanting to read means done: once every layer's bytes are out.
    if (interest === "read_pending" && this.eof) this.close(undefined);
    else if (interest !== this.armedAs) this.tell(interest); // armed already: no event since
  }

  private tell(action: BatchAction): void {
    this.armedAs = action;
    this.host.act(this.id, action, this.raw.drained);
  }

  /** RawFd.drained, for what a close arms (closing.ts). */
  get drained(): boolean {
    return this.raw.drained;
  }

  /** Whether a message can go to the protocol now. */
  private takesMessages(): boolean {
    const hw = this.host.writeHighWater;
    return this.made && !this.paused && !this.closed && !(hw > 0 && this.queued() >= hw);
  }

  /** messageReceived: its "continue" keeps what the connection waits for. */
  private deliver(term: Term): void {
    this.host.delivered();
    const mode: Mode = this.next === "write_pending" ? "write" : "read";
    const action = this.step(mode, "messageReceived", () => this.proto.messageReceived(term));
    this.apply(mode === "read" ? this.writeAtOnce(action) : action);
  }

  /** What a handler said: close now, or remember what to arm. */
  private apply(action: BatchAction | null): void {
    if (action === "close") this.close(undefined);
    else if (action !== null && !this.closed) this.next = action;
  }

  private connectionMade(): BatchAction | null | typeof FAILED {
    this.made = true;
    const first = this.call("connectionMade", () => this.proto.connectionMade(this.proto.fd, this.proto.clientInfo));
    if (first === FAILED) return FAILED;
    return first === undefined ? "read_pending" : this.toBatchAction("read", first, "connectionMade");
  }

  /** Runs a protocol callback with its connection named in what it logs, and
   * in what it starts unless its class says otherwise; a throw ends the
   * connection (logged) and gives FAILED. */
  private call<T>(name: string, fn: () => T): T | typeof FAILED {
    this.running++;
    try {
      return this.host.protocols.runAs(this.id, fn, !(this.proto as { [kOwnAsync]?: boolean })[kOwnAsync]);
    } catch (e) {
      this.handlerFailed(name, e);
      return FAILED;
    } finally {
      this.running--;
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
    return this.closed ? null : this.toBatchAction(mode, r, name);
  }

  /** "write_pending" from a read handler: the fd can nearly always take bytes
   * now, so writeReady runs at once and WRITE is armed only if it asks again
   * (the kernel took less than everything). One round trip instead of two. */
  private writeAtOnce(action: BatchAction | null): BatchAction | null {
    return action === "write_pending" ? this.step("write", "writeReady", () => this.proto.writeReady()) : action;
  }

  /** Nothing is armed until the Promise settles. */
  private pause(mode: Mode, name: string, r: Promise<Action>): void {
    this.paused = true;
    const resume = () => {
      this.paused = false;
      this.touch();
    };
    const settled = (a: Action) => {
      resume();
      if (this.closed) return;
      const action = this.toBatchAction(mode, a, name);
      this.apply(mode === "read" ? this.writeAtOnce(action) : action);
      this.inbox?.drain();
      this.settle();
      this.host.wake();
    };
    awaitAction(r, name, this.host.callbackTimeout, this.host.clock, settled, (e) => {
      resume();
      this.handlerFailed(name, e);
      this.host.wake();
    });
  }

  /** Action -> what to arm; null when the action was invalid (destroyed). */
  private toBatchAction(mode: Mode, a: unknown, name: string): BatchAction | null {
    const action = batchActionOf(mode, a, name);
    if (action instanceof ReactorError) {
      this.host.countError();
      this.host.log("error", this.id, action.message);
      this.destroy(action);
      return null;
    }
    // Backpressure: a reader that does not keep up stops us reading more.
    if (action === "read_pending" && this.host.writeHighWater > 0 && this.queued() >= this.host.writeHighWater) {
      return "write_pending";
    }
    // After EOF, what is queued is written before the close.
    if (action === "read_pending" && this.eof && this.queued() > 0) return "write_pending";
    // What write() left waiting goes before the next read.
    if (action === "read_pending" && this.owesFlush) {
      if (this.queued() > 0) return "write_pending";
      this.owesFlush = false;
    }
    return action;
  }

  private queued(): number {
    return this.proto.writeBuffer.length + this.proto.datagrams.length;
  }

  private touch(): void {
    this.lastActive = this.host.clock.now();
  }

  private handlerFailed(name: string, e: unknown): void {
    if (this.ending.released) return;
    const err = e instanceof Error ? e : new ReactorError("EHANDLER", `${name} threw ${describe(e)}`);
    if (isSystemError(e)) {
      // The connection broke under the handler (EPIPE, ECONNRESET): not a bug.
      this.host.log("debug", this.id, `${name}: ${e.message}`);
    } else {
      this.host.exception(this.id, name, e, `${name} failed: ${stackOf(e)}`);
    }
    this.destroy(err);
  }
}
