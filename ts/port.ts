// The port: what Node does with what Erlang sends. Control arrives as
// {packet,4} ETF frames (codec.ts) on stdin, bridge messages as frames of
// their own beside them (the first byte says which: bridge.ts), fds on the
// channel, and the hot path on the batch socket (ready connections in,
// actions out: batch.ts); everything said goes out through the Outbox. The process around it (stdin,
// stdout, exiting) is main.ts's.
import * as path from "path";
import type { Addon } from "./addon";
import { BatchError, READY_SLOT, ReadyQueue, readyBuffer, serveSlice } from "./batch";
import { realClock } from "./clock";
import { setBeamBackend } from "./beam";
import { BRIDGE_TAG, Bridge, BridgeError } from "./bridge";
import { CodecError, decode, Incoming } from "./codec";
import { evaluate } from "./evaluate";
import { ReactorError, stackOf } from "./errors";
import { MAX_LOG_TEXT } from "./limits";
import { LoadError, loadProtocol } from "./loader";
import type { Outbox } from "./outbox";
import type { ProtocolTable } from "./protocol-table";
import { PortInput } from "./port-input";
import { ClosedSummary, Reactor } from "./reactor";

/** How the port leaves the process it runs in. */
export interface PortExits {
  /** End the process now with `code`: 3 Erlang's side is broken (a bad frame
   * or batch), 4 the channel failed, 5 the protocol did not load, 0 Erlang
   * went away. What was said is flushed first. */
  exit(code: number): never;
  /** A graceful stop is done: leave with status 0 once stdout has drained
   * (Erlang waits for the exit status). */
  stopped(): void;
}

const bounded = (text: string, max: number): string => (text.length > max ? text.slice(0, max) + "..." : text);

/** Why a connection ended, as telemetry's `reason`: "" for a clean close. */
function reasonText(reason: Error | undefined): string {
  if (!reason) return "";
  const code = (reason as NodeJS.ErrnoException).code;
  return bounded(code ? `${code}: ${reason.message}` : reason.message, 500);
}

/** One context's Node side: loads its protocol on `init`, claims the fd each
 * handoff names from the channel, runs the engine (Reactor) on what the
 * batch socket says is ready, answers every control message. */
export class Port {
  private reactor?: Reactor;
  private channel = -1;
  private readonly input: PortInput;
  private readonly fds = new Map<number, number>(); // id -> fd received, not yet claimed
  private readonly lost = new Set<number>(); // ids whose fd was cut off (MSG_CTRUNC)
  private beforeReady: (Incoming | Buffer)[] = []; // messages that arrived while the protocol loaded
  /** terms both ways with Erlang (made at init: beam.self() works while the protocol loads) */
  bridge?: Bridge;
  /** the protocol module loaded last: eval's imports resolve from its directory */
  private protocolFile = "";
  /** ready batches are read up to this many at a time, in one syscall */
  private readonly readyBuf = readyBuffer(32);
  private readonly readySizes = new Uint32Array(32);
  /** the ready connections received and not yet served */
  private readonly ready = new ReadyQueue();

  constructor(
    private readonly io: Addon,
    private readonly out: Outbox,
    /** the engine's protocol table: the loader fills it, the Reactor serves from it */
    private readonly protocols: ProtocolTable,
    private readonly exits: PortExits,
  ) {
    this.input = new PortInput(io, {
      frame: (f) => this.frame(f),
      drained: () => this.out.flush(),
      ended: () => this.onInputEnd(),
      fatal: (why) => this.fatal(why),
    });
  }

  /** The port's input as the addon's watch calls it (Addon.watch): a frame
   * per call, true while more wait (PortInput). */
  onInput(events: number): boolean {
    return this.input.onEvents(events);
  }

  /** Bytes from Erlang: every whole frame is dispatched, then what they said
   * is flushed (what onInput does over several calls, in one). */
  receive(chunk: Buffer): void {
    this.input.push(chunk);
    while (this.input.step());
  }

  private frame(f: Buffer): void {
    if (f[0] === BRIDGE_TAG) return this.bridgeFrame(f.subarray(1));
    let m: Incoming;
    try {
      m = decode(f);
    } catch (e) {
      this.fatal(e instanceof CodecError ? e.message : stackOf(e));
    }
    this.dispatch(m);
  }

  /** A bridge message (bridge.ts). One that does not decode ends the port, as
   * a control frame's would: Erlang's side is broken. */
  private bridgeFrame(payload: Buffer): void {
    if (!this.reactor || !this.bridge) {
      this.beforeReady.push(payload);
      return;
    }
    try {
      this.bridge.receive(payload);
    } catch (e) {
      this.fatal(e instanceof BridgeError ? e.message : stackOf(e));
    }
  }

  /** Erlang closed the port (the BEAM or the context is gone): close everything. */
  onInputEnd(): void {
    const why = new ReactorError("ESTOPPING", "the Erlang side went away");
    this.bridge?.stop(why);
    this.reactor?.closeAll(why);
    this.exits.exit(0);
  }

  private dispatch(m: Incoming): void {
    const r = this.reactor;
    if (m.type === "init") {
      if (r || this.channel >= 0) this.fatal("init received twice");
      void this.init(m);
      return;
    }
    if (!r) {
      this.beforeReady.push(m);
      return;
    }
    switch (m.type) {
      case "handoff": {
        const fd = this.claimFd(m.id);
        if (fd === undefined) this.out.nack(m.id, this.lost.delete(m.id) ? "fd_truncated" : "fd_missing");
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
        this.out.send(["stats", r.stats()]);
        break;
      case "connections":
        this.out.send(["connections", r.connections().map((c): [number, number, number, number, string] => [c.id, c.bytesIn, c.bytesOut, c.durationMs, c.state])]);
        break;
      case "stop":
        this.stop();
        break;
    }
  }

  private async init(msg: Extract<Incoming, { type: "init" }>): Promise<void> {
    const c = msg.config;
    const out = this.out;
    try {
      this.channel = this.io.connectChannel(c.channel);
    } catch (e) {
      return this.loadFailed(4, ["load_error", "channel", (e as Error).message]);
    }
    this.protocolFile = c.protocol;
    this.bridge = new Bridge(
      this.out,
      this.protocols,
      { maxBeamCalls: c.maxBeamCalls, beamCallTimeout: c.beamCallTimeout, self: c.self },
      (source) => evaluate(source, this.protocolFile ? path.dirname(this.protocolFile) : process.cwd()),
    );
    setBeamBackend(this.bridge);
    try {
      await loadProtocol(c.protocol, c.setupCode, this.protocols, { typecheck: c.typecheck });
    } catch (e) {
      return this.loadFailed(5, e instanceof LoadError ? ["load_error", e.kind, e.details] : ["load_error", "protocol_load", stackOf(e)]);
    }
    try {
      out.batchFd = this.receiveBatchSocket();
      this.io.watch(out.batchFd, (events) => this.onBatchSocket(events));
    } catch (e) {
      return this.loadFailed(4, ["load_error", "channel", (e as Error).message]);
    }
    this.reactor = new Reactor(this.io, out, this.protocols, {
      clock: realClock, // held per connection while a slice is served (onBatchSocket)
      readSize: c.readSize,
      writeHighWater: c.writeHighWater,
      callbackTimeout: c.callbackTimeout,
      idleTimeout: c.idleTimeout,
      closeTimeout: c.closeTimeout,
      lingerTimeout: c.lingerTimeout,
      lingerMaxBytes: c.lingerMaxBytes,
      // Erlang's poller lingers on its copy of the fd (REACTOR_ACTION_LINGER)
      pollerLingers: true,
      maxQueuedMessages: c.maxQueuedMessages,
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
    this.reactor.self = c.self;
    this.takeMessages(this.bridge, this.reactor);
    // The context's own TLS is key 0; a context that cannot make it does not start.
    const tlsError = c.tls && this.reactor.addTlsConfig(0, c.tls);
    if (tlsError) return this.loadFailed(5, ["load_error", "tls", tlsError.message]);
    out.send(["ready"]);
    const queued = this.beforeReady;
    this.beforeReady = [];
    for (const m of queued) {
      if (Buffer.isBuffer(m)) this.bridgeFrame(m);
      else this.dispatch(m);
    }
    out.flush();
  }

  /** Erlang's messages for connections: reactor:send/2's to one, and a
   * publish to a group, one frame for every member here (docs/bridge.md). */
  private takeMessages(b: Bridge, r: Reactor): void {
    b.on("message", (e) => {
      if (e.length !== 2 || !Number.isInteger(e[0]) || (e[0] as number) < 1) throw new BridgeError("malformed message");
      r.message(e[0] as number, e[1]);
    });
    b.on("publish", (e) => {
      if (e.length !== 2 || !Buffer.isBuffer(e[0])) throw new BridgeError("malformed publish");
      r.publish(e[0], e[1]);
    });
    b.on("joined", (e) => {
      if (e.length !== 2 || !Number.isInteger(e[0]) || !Buffer.isBuffer(e[1])) throw new BridgeError("malformed joined");
      r.joinedOnErlang(e[0] as number, e[1]);
    });
  }

  /** Says why the context cannot start, then exits (callers return it: the
   * load goes no further even where exit is not the process's). */
  private loadFailed(code: number, why: ["load_error", string, unknown]): never {
    this.out.send(why);
    this.out.flush();
    return this.exits.exit(code);
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

  /** The hot path, as the addon's watch calls it (Addon.watch): the ready
   * batches queued now (two recvmmsg calls of 32 at most, so the port's frames
   * are read in between), then served a slice per call (serveSlice: 0.1 ms at
   * most, its answers sent at its end); true while more wait. */
  private onBatchSocket(events: number): boolean {
    const out = this.out;
    if (events & 4) this.fatal("the batch socket failed");
    if (events & 2) out.writable();
    if (events & 1 && this.ready.empty && this.receiveReady()) this.receiveReady();
    if (this.ready.empty) return false;
    // the slice's writes leave at its end, before its answers (cork.ts); each
    // connection's turn reads the clock once (RealClock.hold)
    let more: boolean;
    try {
      more = this.reactor!.cork.run(() => serveSlice(this.ready, this.serveReady, this.sliceNow));
    } finally {
      realClock.release();
    }
    out.flush();
    return more;
  }

  private readonly sliceNow = (): number => realClock.hold();

  private readonly serveReady = (id: number, write: boolean): void => {
    if (write) this.reactor!.writeReady(id);
    else this.reactor!.readReady(id);
  };

  /** One recvmmsg of ready batches into the queue; true when it filled every
   * slot (more may be queued). */
  private receiveReady(): boolean {
    const n = this.io.recvPackets(this.out.batchFd, this.readyBuf, READY_SLOT, this.readySizes);
    if (n < 0) this.onInputEnd(); // Erlang's end closed: the context is gone
    try {
      for (let i = 0; i < n; i++) this.ready.push(this.readyBuf.subarray(i * READY_SLOT, (i + 1) * READY_SLOT), this.readySizes[i]);
    } catch (e) {
      this.fatal(e instanceof BatchError ? e.message : stackOf(e));
    }
    return n === this.readySizes.length;
  }

  /** New code for new connections; live ones finish on the old unless the new
   * class adopts them. On any error the old code keeps serving. */
  private async reload(r: Reactor, m: Extract<Incoming, { type: "reload" }>): Promise<void> {
    try {
      const loaded = await loadProtocol(m.protocol, m.setupCode, this.protocols, { typecheck: m.typecheck });
      this.protocolFile = m.protocol;
      this.out.send(["reloaded", m.ref, loaded.adopt ? r.adopt(loaded.adopt) : 0]);
    } catch (e) {
      if (e instanceof LoadError) this.out.send(["reload_error", m.ref, e.kind, e.details]);
      else this.out.send(["reload_error", m.ref, "protocol_load", stackOf(e)]);
    }
    this.out.wake();
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

  private stop(): void {
    const why = new ReactorError("ESTOPPING", "the reactor context is stopping");
    this.bridge?.stop(why);
    this.reactor?.closeAll(why);
    for (const fd of this.fds.values()) this.io.close(fd);
    this.fds.clear();
    this.out.flush();
    this.exits.stopped();
  }

  private fatal(why: string): never {
    this.out.log("error", null, `port exiting: ${why}`);
    this.out.flush();
    return this.exits.exit(3);
  }
}
