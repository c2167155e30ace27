// A TCP proxy: the BEAM accepts the front connection, Node's own net.connect
// opens the back end. Outbound sockets are Node's: they live in libuv like
// any Node program's (only the fds the BEAM accepted never enter it), so a
// protocol may use net, tls, http or fetch for its own clients.
//
// The back end comes from the client info, e.g. the listener's
// `info => #{backend_host => <<"127.0.0.1">>, backend_port => 6379}`.
// Backpressure both ways, as Node's stream.pipe does it:
// - back to front: past HIGH_WATER bytes waiting in the front's writeBuffer
//   the back end is paused (Node stops reading its fd), resumed once the
//   front has taken them;
// - front to back: while the back end's write returns false the front is
//   not read (its handler's Promise pauses the connection) until 'drain'.
import * as net from "net";
import { Action, ClientInfo, Protocol } from "erlang-reactor";

/** Front bytes waiting for the kernel past which the back end is paused. */
const HIGH_WATER = 256 * 1024;
/** ms the back end may take to close after the front has gone. */
const CLOSE_TIMEOUT = 5000;

const live = new Set<TcpProxy>();

export default class TcpProxy extends Protocol {
  private backend!: net.Socket;
  private where = "";
  /** set while the front waits for the back end: wakes its handler */
  private resume: ((a: Action) => void) | undefined;
  /** the front sent its FIN (forwarded); the back end's answer still comes */
  private frontEnded = false;

  connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    const host = typeof info.backend_host === "string" ? info.backend_host : "127.0.0.1";
    const port = Number(info.backend_port ?? 6379);
    this.where = `${host}:${port}`;
    const b = (this.backend = net.connect({ host, port, noDelay: true }));
    live.add(this);
    b.on("data", (chunk: Buffer) => {
      if (this.closed) return; // the front is gone: nobody to give it to
      this.write(chunk); // what the front does not take now waits, WRITE armed
      if (this.writeBuffer.length >= HIGH_WATER) b.pause();
      // a front waiting for the back end arms nothing, writes included: wake it
      if (this.writeBuffer.length > 0) this.wake("write_pending");
    });
    b.on("drain", () => this.wake(this.frontEnded ? "write_pending" : "read_pending"));
    b.on("end", () => {
      this.wake("close");
      // what the back end sent goes out first, then the FIN
      this.close(Object.assign(new Error(`the back end ${this.where} closed the connection`), { code: "EBACKENDCLOSED" }));
    });
    // ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT: the front ends with it
    b.on("error", (e: Error) => {
      if (this.closed) return;
      console.warn(`back end ${this.where}: ${e.message}`);
      this.destroy(e);
    });
    b.on("close", () => live.delete(this));
    return "read_pending";
  }

  dataReceived(data: Buffer): Action | Promise<Action> {
    // Node keeps a reference to `data` until it is written: a view of a slab
    // that is never reused, so no copy is needed
    return this.backend.write(data) ? "read_pending" : this.waitForBackend();
  }

  writeReady(): Action | Promise<Action> {
    this.flush();
    if (this.writeBuffer.length > 0) return "continue";
    if (this.backend.isPaused()) this.backend.resume();
    if (this.backend.writableNeedDrain || this.frontEnded) return this.waitForBackend();
    return "read_pending";
  }

  /** The front's FIN goes to the back end; the front stays open for its answer. */
  eofReceived(): boolean {
    this.frontEnded = true;
    this.backend.end();
    return true;
  }

  connectionLost(reason?: Error): void {
    this.wake("close");
    if (reason) this.backend.destroy();
    else {
      this.backend.end(); // what the front sent last still goes
      this.backend.setTimeout(CLOSE_TIMEOUT, () => this.backend.destroy());
    }
  }

  /** Nothing armed (the front is not read) until the back end says so. */
  private waitForBackend(): Promise<Action> {
    return new Promise((resolve) => (this.resume = resolve));
  }

  private wake(action: Action): void {
    const r = this.resume;
    this.resume = undefined;
    r?.(action);
  }

  /** Bytes waiting on both sides, for the tests (reactor_context:call(Ctx, stats, [])). */
  static stats(): { connections: number; frontBuffered: number; backendBuffered: number; backendPaused: number } {
    let frontBuffered = 0;
    let backendBuffered = 0;
    let backendPaused = 0;
    for (const p of live) {
      frontBuffered += p.writeBuffer.length;
      backendBuffered += p.backend.writableLength;
      if (p.backend.isPaused()) backendPaused++;
    }
    return { connections: live.size, frontBuffered, backendBuffered, backendPaused };
  }
}

/** What Erlang may call: `reactor_context:call(Ctx, stats, [])`. */
export const stats = () => TcpProxy.stats();
