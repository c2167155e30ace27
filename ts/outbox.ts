// What the port says during one dispatch, gathered and sent at its end:
// control messages as {packet,4} ETF frames in one write on the frame fd,
// answers for connections as action batches on the batch socket (batch.ts),
// kept in order while Erlang's end of that socket has no room.
import type { Addon } from "./addon";
import { ActionBatch } from "./batch";
import { encode } from "./codec";
import type { BatchAction, LogLevel, NackReason, Outgoing } from "./codec";
import { frameAll } from "./framing";
import { MAX_LOG_TEXT } from "./limits";
import { LogLimiter } from "./log-limit";
import type { Sink } from "./reactor";
import { BRIDGE_TAG, frameOf } from "./bridge";
import { atom } from "./term-types";

const JOIN = atom("join");
const LEAVE = atom("leave");

/** What the outbox needs of the addon. */
export type OutboxIo = Pick<Addon, "writeAll" | "sendPacket" | "wantWritable">;

/** Gathers everything said during one dispatch: control messages into one
 * write on the frame fd, answers for connections into action batches. */
export class Outbox implements Sink {
  /** control messages, and bridge frames' payloads already encoded (bridge.ts) */
  private msgs: (Outgoing | Buffer)[] = [];
  private acts = new ActionBatch();
  /** action batches Erlang's end had no room for yet, oldest first */
  private backlog: Uint8Array[] = [];
  private scheduled = false;
  /** the batch socket, once Erlang has given it (-1 until then: answers wait) */
  batchFd = -1;
  /** the same error from one connection: logged once, then counted */
  private readonly limiter = new LogLimiter((level, id, text) => this.push(level, id, text));

  constructor(
    private readonly io: OutboxIo,
    /** where frames go: the stdout the addon took (Addon.takeStdout) */
    private readonly frameFd: number,
  ) {}

  /** A control message, sent at the next flush. */
  send(m: Outgoing): void {
    this.msgs.push(m);
  }
  /** A frame's payload as it is (a bridge message), sent at the next flush
   * in order with the control messages. */
  sendFrame(payload: Buffer): void {
    this.msgs.push(payload);
  }
  /** A connection joined a group: Erlang's context joins its pg group with
   * the first (reactor_groups.erl). */
  joined(id: number, group: Buffer): void {
    this.sendFrame(frameOf([JOIN, id, group]));
  }
  left(id: number, group: Buffer): void {
    this.sendFrame(frameOf([LEAVE, id, group]));
  }
  /** `drained`: RawFd.drained, for read_pending (batch.ts, DRAINED). */
  act(id: number, a: BatchAction, drained = false): void {
    this.acts.push(id, a, false, drained);
  }
  ack(id: number, a: BatchAction): void {
    this.acts.push(id, a, true);
  }
  nack(id: number, reason: NackReason): void {
    this.msgs.push(["nack", id, reason]);
  }
  /** A log line for Erlang's logger (cut past MAX_LOG_TEXT); flushed soon
   * even when no dispatch is running. A repeated error of one connection is
   * counted, not repeated (log-limit.ts). */
  log(level: LogLevel, id: number | null, text: string): void {
    this.limiter.log(level, id, text);
  }
  private push(level: LogLevel, id: number | null, text: string): void {
    if (text.length > MAX_LOG_TEXT) text = text.slice(0, MAX_LOG_TEXT) + "... (truncated)";
    this.msgs.push(["log", level, id, text]);
    this.wake();
  }
  wake(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
  /** Everything gathered goes: the frames in one blocking write, the action
   * batches as far as the batch socket takes them (the rest in order later). */
  flush(): void {
    this.scheduled = false;
    if (this.msgs.length) {
      const payloads = this.msgs.map((m) => (Buffer.isBuffer(m) ? m : encode(m)));
      this.msgs = [];
      // bridge frames in a row go as one batch: one message for Erlang to take
      this.io.writeAll(this.frameFd, frameAll(payloads, (p) => p[0] === BRIDGE_TAG));
    }
    if (!this.acts.empty && this.batchFd >= 0) {
      for (const p of this.acts.take()) {
        if (this.backlog.length || !this.io.sendPacket(this.batchFd, p, p.length)) this.backlog.push(p.slice());
      }
      if (this.backlog.length) this.io.wantWritable(this.batchFd, true);
    }
  }
  /** The batch socket is writable again: what waited goes, in order. */
  writable(): void {
    while (this.backlog.length) {
      const p = this.backlog[0];
      if (!this.io.sendPacket(this.batchFd, p, p.length)) return;
      this.backlog.shift();
    }
    this.io.wantWritable(this.batchFd, false);
  }
}
