// How a connection ends, exactly once: abortively (Node's socket.destroy():
// the fd closes now) or gracefully, as Node's socket.end() and a server's
// lingering close do it: what the protocol queued goes out, then TLS's
// close_notify, then the FIN; then what the peer still sends is read and
// dropped for a bounded time and size (RFC 9112 §9.6; cowboy's
// linger_timeout, nginx's lingering_close), so that our close does not meet
// unread bytes and become a reset that costs the peer our answer; under
// Erlang, its poller lingers on its own copy of the fd and Node's closes
// once the FIN is out (the "linger" action). A peer that takes nothing is
// cut after close_timeout.
import type { Clock } from "./clock";
import type { Connection, ConnectionHost } from "./connection";
import { ReactorError, stackOf } from "./errors";
import { MAX_READS_PER_EVENT } from "./limits";
import type { OutgoingDatagram, WriteBuffer } from "./protocol";
import type { Transport } from "./transport";
import type { BatchAction } from "./types";

/** The end of one connection: its flags, and the graceful close under way
 * (whose CloseHost it is). */
export class Ending implements CloseHost {
  /** a close began: the protocol gets no more callbacks */
  closed = false;
  /** the fd is closed and Erlang told: nothing is left */
  released = false;
  /** a graceful close under way (flushing, then lingering) */
  closing: Closing | undefined;
  /** Erlang knows the connection (its ack was sent): what to arm is told */
  private announced = false;
  /** what a close begun in connectionMade wants armed: the ack says it */
  private unannounced: BatchAction | undefined;
  private lost = false;
  /** the graceful close's reason, for connectionLost once the FIN is out */
  private reason: Error | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly top: Transport,
    private readonly host: ConnectionHost,
  ) {}

  /** The handoff's ack: the first action, or what a close begun in
   * connectionMade (returned, or this.close()) arms. */
  announce(first: BatchAction): BatchAction {
    this.announced = true;
    return this.closed ? (this.unannounced ?? "close") : first;
  }

  /** Graceful: flush, close_notify, FIN, connectionLost(reason), linger
   * (unless the peer's end came already, or the fd is no socket: `lingers` false). */
  close(reason: Error | undefined, lingers: boolean): void {
    if (this.closed) return;
    this.stop();
    this.reason = reason;
    this.closing = new Closing(this.top, this.conn.proto, this.host.closeBounds, this.host.clock, lingers && !this.top.datagram, this);
    this.closing.run();
    if (!this.released) this.host.wake(); // from a timer or a promise, too: what it armed goes out
  }

  // CloseHost: what the graceful close tells its connection.

  arm(action: "read_pending" | "write_pending"): void {
    this.tell(action);
  }

  finished(): void {
    this.lose(this.reason);
  }

  done(reason?: Error): void {
    this.destroy(reason, true);
  }

  handOver(): void {
    this.release("linger");
    this.host.wake();
  }

  /** Abortive: the fd closes now, connectionLost(reason) runs if it has not. */
  destroy(reason: Error | undefined, tellErlang: boolean): void {
    if (this.released) return;
    this.release(tellErlang ? "close" : undefined);
    this.lose(reason);
    this.host.wake();
  }

  /** Node's copy of the fd closes and the connection is forgotten; Erlang
   * is told `action` (close, or linger on its own copy). */
  private release(action: "close" | "linger" | undefined): void {
    if (this.released) return;
    this.stop();
    this.released = true;
    this.closing?.dispose();
    this.top.close();
    this.host.forget(this.conn);
    if (action) this.tell(action);
  }

  /** What to arm, to Erlang; before the handoff's ack, into it. */
  tell(action: BatchAction): void {
    if (this.announced) this.host.act(this.conn.id, action, this.conn.drained);
    else this.unannounced = action;
  }

  private stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.proto.closed = true;
    this.conn.callbacksStopped();
  }

  private lose(reason: Error | undefined): void {
    if (this.lost) return;
    this.lost = true;
    const { conn, host } = this;
    host.lost(conn, reason);
    try {
      host.protocols.runAs(conn.id, () => conn.proto.connectionLost(reason));
    } catch (e) {
      host.exception(conn.id, "connectionLost", e, `connectionLost threw: ${stackOf(e)}`);
    }
  }
}

/** A context's bounds on graceful closes (reactor_config's close_timeout,
 * linger_timeout, linger_max_bytes; defaults in limits.ts). */
export interface CloseBounds {
  /** ms the peer has to take what is queued at the close, the close_notify
   * and the FIN, before the connection is cut (ECLOSETIMEOUT); 0 = no bound */
  closeTimeout: number;
  /** ms a closed connection reads and drops what the peer still sends after
   * our FIN, unless the peer's own end comes first; 0 = no lingering close */
  lingerTimeout: number;
  /** bytes it drops at most before it closes anyway; 0 = no bound but the time */
  lingerMaxBytes: number;
  /** Erlang's poller lingers on its copy of the fd (the "linger" action):
   * Node's closes once the FIN is out */
  pollerLingers: boolean;
}

/** What a close tells its connection. */
export interface CloseHost {
  /** Arm the fd: WRITE while bytes wait, READ while lingering. */
  arm(action: "read_pending" | "write_pending"): void;
  /** Everything the protocol queued is out, then the FIN: its connection is over. */
  finished(): void;
  /** The close is over: release the fd (cut short with `reason`). */
  done(reason?: Error): void;
  /** The FIN is out and the peer's end has not come: Node's part is over,
   * the poller lingers (CloseBounds.pollerLingers). */
  handOver(): void;
}

/** The bytes a protocol queued (its writeBuffer and datagrams). */
export interface Queued {
  readonly writeBuffer: WriteBuffer;
  readonly datagrams: OutgoingDatagram[];
}

/** A graceful close: flushing until the FIN is out, then lingering. */
export class Closing {
  /** "flushing" until the FIN is out, then "lingering" */
  phase: "flushing" | "lingering" = "flushing";
  private timer: unknown;
  private dropped = 0;
  private over = false;
  /** when the close began (clock ms): close_timeout counts from it */
  private readonly began: number;

  constructor(
    private readonly top: Transport,
    private readonly queued: Queued,
    private readonly bounds: CloseBounds,
    private readonly clock: Clock,
    /** read and drop after the FIN: not after the peer's EOF, nor on datagrams */
    private readonly lingers: boolean,
    private readonly host: CloseHost,
  ) {
    this.began = clock.now();
  }

  /** close_timeout's timer, set the first time the close has to wait (most
   * closes finish in their first run, and set none). */
  private bound(): void {
    if (this.timer !== undefined || !(this.bounds.closeTimeout > 0)) return;
    const left = Math.max(0, this.began + this.bounds.closeTimeout - this.clock.now());
    this.timer = this.clock.setTimeout(() => this.timedOut(), left);
  }

  /** Moves the close on: at the start, on WRITE and when a layer wakes. */
  run(): void {
    if (this.over || this.phase === "lingering") return;
    try {
      const left = this.push();
      const flushed = this.top.flush(); // the layers' own bytes (ciphertext)
      if (left || !flushed) {
        this.bound();
        // A layer that encrypts on its own tick (TLS) wakes us when it has bytes.
        if (!(flushed && this.top.settlesLater && this.top.unsent === 0)) this.host.arm("write_pending");
        return;
      }
      if (!this.top.datagram) {
        this.top.shutdownWrite();
        if (!this.top.flush()) {
          this.bound();
          return this.host.arm("write_pending");
        }
        if (!this.top.writableFinished) return this.bound(); // close_notify comes on TLS's tick: it wakes us
      }
    } catch {
      return; // a broken fd: the layer below has ended the connection already
    }
    if (this.over) return;
    this.clock.clearTimeout(this.timer);
    this.host.finished();
    if (this.over) return;
    if (!this.lingers || this.bounds.lingerTimeout <= 0) return this.end();
    if (this.bounds.pollerLingers) {
      this.dispose();
      return this.host.handOver();
    }
    this.phase = "lingering";
    this.timer = this.clock.setTimeout(() => this.end(), this.bounds.lingerTimeout);
    this.host.arm("read_pending");
  }

  /** READ: while lingering, what is there is dropped; the peer's end ends it. */
  readable(): void {
    if (this.over) return;
    if (this.phase !== "lingering") return this.run();
    const max = this.bounds.lingerMaxBytes > 0 ? this.bounds.lingerMaxBytes : Infinity;
    for (let i = 0; i < MAX_READS_PER_EVENT; i++) {
      const n = this.top.discard(max - this.dropped);
      if (n < 0) break;
      if (n === 0) return this.end();
      this.dropped += n;
      if (this.dropped >= max) return this.end();
    }
    this.host.arm("read_pending");
  }

  /** The connection was released another way (an error, Erlang, a stop). */
  dispose(): void {
    this.over = true;
    this.clock.clearTimeout(this.timer);
  }

  /** The protocol's bytes into the stack, as much as it takes now; whether
   * some are left. */
  private push(): boolean {
    const { writeBuffer, datagrams } = this.queued;
    while (datagrams.length > 0) {
      const d = datagrams[0];
      if (this.top.sendTo(d.data, d.addr, d.port) < 0) return true;
      datagrams.shift();
    }
    while (writeBuffer.length > 0) {
      const n = this.top.writev(writeBuffer.peek());
      if (n === 0) return true;
      writeBuffer.consume(n);
    }
    return false;
  }

  private end(): void {
    if (this.over) return;
    this.dispose();
    this.host.done();
  }

  private timedOut(): void {
    if (this.over) return;
    this.dispose();
    const left = this.queued.writeBuffer.length + this.top.unsent;
    this.host.done(
      new ReactorError("ECLOSETIMEOUT", `the peer did not take the last ${left} bytes and the end within ${this.bounds.closeTimeout} ms`),
    );
  }
}
