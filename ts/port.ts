// The port process: {packet,4} ETF frames on stdin/stdout for control, fds from
// the channel, and the hot path on the batch socket (ready connections in,
// actions out: batch.ts). stdout carries frames and nothing else: console.* and
// stray stdout writes become log frames that Erlang's logger prints with the
// context and connection.
import { format } from "util";
import { addon, Addon } from "./addon";
import { CodecError, decode, encode, Incoming, LogLevel, NackReason, Outgoing, BatchAction } from "./codec";
import { ActionBatch, BatchError, READY_SLOT, answeringAsItGoes, forEachReady, readyBuffer } from "./batch";
import { FrameError, FrameReader, frame } from "./framing";
import { ReactorError, stackOf } from "./errors";
import { LoadError, loadProtocol } from "./loader";
import { ClosedSummary, Reactor, Sink } from "./reactor";
import { ProtocolTable } from "./protocol-table";
import { MAX_IN_FRAME, MAX_LOG_TEXT } from "./limits";

// Taken before anything touches process.stdout: from here on fd 1 is stderr and
// the frames have an fd of their own.
const frameFd = addon().takeStdout();
const rawWrite = (b: Buffer): void => addon().writeAll(frameFd, b);

/** Batches everything said during one dispatch: control messages into one
 * write on the port, answers for connections into batch packets. */
class Outbox implements Sink {
  private msgs: Outgoing[] = [];
  private acts = new ActionBatch();
  /** packets Erlang's end had no room for yet, oldest first */
  private queued: Uint8Array[] = [];
  private scheduled = false;
  /** the batch socket, once Erlang has given it */
  batchFd = -1;

  send(m: Outgoing): void {
    this.msgs.push(m);
  }
  act(id: number, a: BatchAction): void {
    this.acts.push(id, a);
  }
  ack(id: number, a: BatchAction): void {
    this.acts.push(id, a, true);
  }
  nack(id: number, reason: NackReason): void {
    this.msgs.push(["nack", id, reason]);
  }
  log(level: LogLevel, id: number | null, text: string): void {
    if (text.length > MAX_LOG_TEXT) text = text.slice(0, MAX_LOG_TEXT) + "... (truncated)";
    this.msgs.push(["log", level, id, text]);
    this.wake();
  }
  wake(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
  flush(): void {
    this.scheduled = false;
    if (this.msgs.length) {
      const frames = this.msgs.map((m) => frame(encode(m)));
      this.msgs = [];
      rawWrite(frames.length === 1 ? frames[0] : Buffer.concat(frames));
    }
    if (!this.acts.empty && this.batchFd >= 0) {
      for (const p of this.acts.take()) {
        if (this.queued.length || !addon().sendPacket(this.batchFd, p, p.length)) this.queued.push(p.slice());
      }
      if (this.queued.length) addon().wantWritable(true);
    }
  }
  /** The batch socket is writable again: what waited goes, in order. */
  writable(): void {
    while (this.queued.length) {
      const p = this.queued[0];
      if (!addon().sendPacket(this.batchFd, p, p.length)) return;
      this.queued.shift();
    }
    addon().wantWritable(false);
  }
}

const out = new Outbox();
// This process's one engine: its protocol factory, fds and running connection.
const protocols = new ProtocolTable();
const currentConnection = () => protocols.currentConnection();

function redirectConsole(): void {
  // log and info at notice: the lowest level OTP's default logger prints.
  const levels: [keyof Console, LogLevel][] = [
    ["log", "notice"],
    ["info", "notice"],
    ["warn", "warning"],
    ["error", "error"],
    ["debug", "debug"],
    ["trace", "debug"],
  ];
  for (const [method, level] of levels) {
    (console as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
      out.log(level, currentConnection(), format(...args));
  }
  // fd 1 is stderr now; still, what a protocol prints belongs in the log.
  process.stdout.write = ((chunk: unknown) => {
    out.log("notice", currentConnection(), String(chunk).replace(/\n$/, ""));
    return true;
  }) as typeof process.stdout.write;
  process.on("uncaughtException", (e) => out.log("error", currentConnection(), `uncaught exception: ${stackOf(e)}`));
  process.on("unhandledRejection", (e) => out.log("error", currentConnection(), `unhandled rejection: ${stackOf(e)}`));
}

const bounded = (text: string, max: number): string => (text.length > max ? text.slice(0, max) + "..." : text);

/** Why a connection ended, as telemetry's `reason`: "" for a clean close. */
function reasonText(reason: Error | undefined): string {
  if (!reason) return "";
  const code = (reason as NodeJS.ErrnoException).code;
  return bounded(code ? `${code}: ${reason.message}` : reason.message, 500);
}

function fatal(why: string): never {
  out.log("error", null, `port exiting: ${why}`);
  out.flush();
  process.exit(3);
}

class Port {
  private reactor?: Reactor;
  private io: Addon = addon();
  private channel = -1;
  private fds = new Map<number, number>(); // id -> fd received, not yet claimed
  private lost = new Set<number>(); // ids whose fd was cut off (MSG_CTRUNC)
  private pending: Incoming[] = []; // messages that arrived while loading
  /** ready batches are read up to this many at a time, in one syscall */
  private readyBuf = readyBuffer(32);
  private readySizes = new Uint32Array(32);

  async init(msg: Extract<Incoming, { type: "init" }>): Promise<void> {
    const c = msg.config;
    try {
      this.channel = this.io.connectChannel(c.channel);
    } catch (e) {
      out.send(["load_error", "channel", (e as Error).message]);
      out.flush();
      process.exit(4);
    }
    try {
      await loadProtocol(c.protocol, c.setupCode, protocols, { typecheck: c.typecheck });
    } catch (e) {
      if (e instanceof LoadError) out.send(["load_error", e.kind, e.details]);
      else out.send(["load_error", "protocol_load", stackOf(e)]);
      out.flush();
      process.exit(5);
    }
    try {
      out.batchFd = this.receiveBatchSocket();
      this.io.watchBatches(out.batchFd, (events) => this.onBatchSocket(events));
    } catch (e) {
      out.send(["load_error", "channel", (e as Error).message]);
      out.flush();
      process.exit(4);
    }
    this.reactor = new Reactor(this.io, out, protocols, {
      readSize: c.readSize,
      writeHighWater: c.writeHighWater,
      callbackTimeout: c.callbackTimeout,
      idleTimeout: c.idleTimeout,
      // Telemetry wants each end and each exception; without it they cost nothing.
      ...(c.telemetry
        ? {
            onClose: (id: number, reason: Error | undefined, s: ClosedSummary) =>
              out.send(["closed", id, s.bytesIn, s.bytesOut, s.durationMs, reasonText(reason)]),
            onException: (id: number, callback: string, e: unknown) =>
              out.send(["exception", id, callback, bounded(stackOf(e), MAX_LOG_TEXT)]),
          }
        : {}),
    });
    // The context's own TLS is key 0; a context that cannot make it does not start.
    const tlsError = c.tls && this.reactor.addTlsConfig(0, c.tls);
    if (tlsError) {
      out.send(["load_error", "tls", tlsError.message]);
      out.flush();
      process.exit(5);
    }
    out.send(["ready"]);
    const queued = this.pending;
    this.pending = [];
    for (const m of queued) this.dispatch(m);
    out.flush();
  }

  /** The batch socket is the channel's first message, as id 0; Erlang sends it
   * as soon as it has accepted the channel. */
  private receiveBatchSocket(): number {
    if (!this.io.waitReadable(this.channel, 30000)) throw new Error("no batch socket on the channel within 30 s");
    const got = this.io.recvFds(this.channel);
    if (got && got.ids.length === 1 && got.ids[0] === 0 && got.fds.length === 1) return got.fds[0];
    got?.fds.forEach((fd) => this.io.close(fd));
    throw new Error(`the channel's first message is not the batch socket: ${JSON.stringify(got?.ids)}`);
  }

  /** The hot path: the ready batches queued now (a bounded number, so the
   * port's control frames are read in between); the answers go at the end,
   * and along the way when the batch takes long (answeringAsItGoes). */
  private onBatchSocket(events: number): void {
    if (events & 4) fatal("the batch socket failed");
    if (events & 2) out.writable();
    if (!(events & 1)) return;
    const r = this.reactor!;
    const ready = answeringAsItGoes(
      (id, write) => (write ? r.writeReady(id) : r.readReady(id)),
      () => out.flush(),
    );
    for (let round = 0; round < 2; round++) {
      const n = this.io.recvPackets(out.batchFd, this.readyBuf, READY_SLOT, this.readySizes);
      if (n < 0) this.onInputEnd(); // Erlang's end closed: the context is gone
      try {
        for (let i = 0; i < n; i++) forEachReady(this.readyBuf.subarray(i * READY_SLOT, (i + 1) * READY_SLOT), this.readySizes[i], ready);
      } catch (e) {
        fatal(e instanceof BatchError ? e.message : stackOf(e));
      }
      if (n < this.readySizes.length) break;
    }
    out.flush();
  }

  dispatch(m: Incoming): void {
    const r = this.reactor;
    if (m.type === "init") {
      if (r || this.channel >= 0) fatal("init received twice");
      void this.init(m);
      return;
    }
    if (!r) {
      this.pending.push(m);
      return;
    }
    switch (m.type) {
      case "handoff": {
        const fd = this.claimFd(m.id);
        if (fd === undefined) out.nack(m.id, this.lost.delete(m.id) ? "fd_truncated" : "fd_missing");
        else r.handoff(m.id, fd, m.info, m.transport);
        break;
      }
      case "tls_config":
        r.addTlsConfig(m.key, m.options);
        break;
      case "close":
        r.closeFromErlang(m.id, m.reason);
        break;
      case "reload":
        void this.reload(r, m);
        break;
      case "stats":
        out.send(["stats", r.stats()]);
        break;
      case "connections":
        out.send(["connections", r.connections().map((c): [number, number, number, number, string] => [c.id, c.bytesIn, c.bytesOut, c.durationMs, c.state])]);
        break;
      case "stop":
        this.stop();
        break;
    }
  }

  /** New code for new connections; live ones finish on the old unless the new
   * class adopts them. On any error the old code keeps serving. */
  private async reload(r: Reactor, m: Extract<Incoming, { type: "reload" }>): Promise<void> {
    try {
      const loaded = await loadProtocol(m.protocol, m.setupCode, protocols, { typecheck: m.typecheck });
      out.send(["reloaded", m.ref, loaded.adopt ? r.adopt(loaded.adopt) : 0]);
    } catch (e) {
      if (e instanceof LoadError) out.send(["reload_error", m.ref, e.kind, e.details]);
      else out.send(["reload_error", m.ref, "protocol_load", stackOf(e)]);
    }
    out.wake();
  }

  /** The fd is sent before the message announcing it, so it is already queued. */
  private claimFd(id: number): number | undefined {
    while (!this.fds.has(id)) {
      const got = this.io.recvFds(this.channel);
      if (!got) return undefined;
      got.ids.forEach((gid, i) => {
        if (i < got.fds.length) this.fds.set(gid, got.fds[i]);
        else this.lost.add(gid);
      });
      if (this.lost.has(id)) return undefined;
    }
    const fd = this.fds.get(id)!;
    this.fds.delete(id);
    return fd;
  }

  stop(): void {
    this.reactor?.closeAll(new ReactorError("ESTOPPING", "the reactor context is stopping"));
    for (const fd of this.fds.values()) this.io.close(fd);
    this.fds.clear();
    out.flush();
    process.exitCode = 0;
    // Let stdout drain, then leave; Erlang waits for our exit status.
    process.stdin.pause();
    setImmediate(() => process.exit(0));
  }

  onInputEnd(): void {
    // Erlang closed the port (the BEAM or the context is gone): close everything.
    this.reactor?.closeAll(new ReactorError("ESTOPPING", "the Erlang side went away"));
    process.exit(0);
  }
}

function main(): void {
  redirectConsole();
  process.setSourceMapsEnabled?.(true);
  const port = new Port();
  const reader = new FrameReader(MAX_IN_FRAME);
  process.stdin.on("data", (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = reader.push(chunk);
    } catch (e) {
      fatal(e instanceof FrameError ? e.message : stackOf(e));
    }
    for (const f of frames) {
      let m: Incoming;
      try {
        m = decode(f);
      } catch (e) {
        fatal(e instanceof CodecError ? e.message : stackOf(e));
      }
      port.dispatch(m);
    }
    out.flush();
  });
  process.stdin.on("end", () => port.onInputEnd());
}

main();
