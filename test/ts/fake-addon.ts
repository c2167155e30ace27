// The addon as the port sees it, in memory: connections' fds are MemoryFds,
// the channel is a queue of fd messages, the batch socket two queues of
// packets, and the frame fd a buffer the test decodes. Playing Erlang's side
// is the test's: it queues what the NIF would send, then says so.
import * as erlpack from "erlpack";
import type { Addon, ReceivedFds } from "../../ts/addon";
import { BRIDGE_TAG } from "../../ts/bridge";
import { BATCH_TAG, FrameReader, unbatch } from "../../ts/framing";
import { decodeTerm } from "../../ts/term";
import type { Term, Tuple } from "../../ts/term";
import { MemoryFds } from "./memory-fds";

export const FRAME_FD = 1001;
export const CHANNEL_FD = 1002;
export const BATCH_FD = 1003;

export class FakeAddon extends MemoryFds implements Addon {
  /** the channel's path, once the port connected to it */
  channelPath: string | undefined;
  /** fd messages on the channel, oldest first (the NIF's sendmsg) */
  readonly channel: ReceivedFds[] = [];
  /** ready batches on the batch socket, oldest first */
  readonly readyBatches: Uint8Array[] = [];
  /** Erlang's end of the batch socket is closed */
  batchClosed = false;
  /** every action batch the port sent, as [id, code] pairs */
  readonly actionBatches: [number, number][][] = [];
  /** Erlang's end of the batch socket has no room: sends are refused */
  full = false;
  /** the port asked to be told when the batch socket is writable */
  wantsWritable = false;
  private readonly frameBytes: Buffer[] = [];
  private onBatchSocket: ((events: number) => boolean) | undefined;

  connectChannel(path: string): number {
    this.channelPath = path;
    return CHANNEL_FD;
  }
  recvFds(fd: number): ReceivedFds | null {
    expect(fd).toBe(CHANNEL_FD);
    return this.channel.shift() ?? null;
  }
  watchStdin(): void {}
  takeStdout(): number {
    return FRAME_FD;
  }
  writeAll(fd: number, buf: Uint8Array): void {
    expect(fd).toBe(FRAME_FD);
    this.frameBytes.push(Buffer.from(buf));
  }
  waitReadable(fd: number): boolean {
    return fd === CHANNEL_FD && this.channel.length > 0;
  }
  recvPacket(fd: number, buf: Uint8Array): number {
    const sizes = new Uint32Array(1);
    const n = this.recvPackets(fd, buf, buf.length, sizes);
    return n === 1 ? sizes[0] : n === 0 ? -1 : 0;
  }
  recvPackets(fd: number, buf: Uint8Array, slot: number, sizes: Uint32Array): number {
    expect(fd).toBe(BATCH_FD);
    let n = 0;
    for (; n < sizes.length && this.readyBatches.length; n++) {
      const p = this.readyBatches.shift()!;
      buf.set(p.subarray(0, slot), n * slot);
      sizes[n] = p.length > slot ? slot + 1 : p.length;
    }
    return n === 0 && this.batchClosed ? -1 : n;
  }
  sendPacket(fd: number, buf: Uint8Array, length: number): boolean {
    expect(fd).toBe(BATCH_FD);
    if (this.full) return false;
    const words = new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + length));
    const pairs: [number, number][] = [];
    for (let i = 0; i < words.length; i += 2) pairs.push([words[i], words[i + 1]]);
    this.actionBatches.push(pairs);
    return true;
  }
  watch(fd: number, onEvents: (events: number) => boolean): void {
    expect(fd).toBe(BATCH_FD);
    this.onBatchSocket = onEvents;
  }
  unwatch(): void {}
  wantWritable(fd: number, on: boolean): void {
    expect(fd).toBe(BATCH_FD);
    this.wantsWritable = on;
  }

  /** An fd on the channel for connection `id` (sent before its handoff). */
  sendFd(id: number, fd: number): void {
    this.channel.push({ ids: [id], fds: [fd], truncated: false });
  }

  /** A ready batch naming `ids` (`{ write: id }`: armed for writing), then
   * libuv's report that the batch socket is readable. */
  ready(...ids: (number | { write: number })[]): number {
    this.readyBatches.push(new Uint8Array(Uint32Array.from(ids, (i) => (typeof i === "number" ? i : (i.write | 0x80000000) >>> 0)).buffer));
    return this.batchEvent(1);
  }

  /** libuv's events on the batch socket: 1 readable, 2 writable, 4 broken;
   * then, as the addon's watch does, the callback again while it says more
   * waits. Returns how many calls it took. */
  batchEvent(events: number): number {
    if (!this.onBatchSocket) throw new Error("the port does not watch the batch socket (yet)");
    let calls = 1;
    while (this.onBatchSocket(events)) {
      events = 0;
      calls++;
    }
    return calls;
  }

  /** Every message the port wrote on the frame fd so far, decoded. */
  /** The control frames sent so far, decoded (bridge frames left out). */
  frames(): unknown[] {
    return this.allFrames()
      .filter((f) => f[0] !== BRIDGE_TAG)
      .map((f) => erlpack.unpack(f));
  }

  /** The bridge frames sent so far, decoded: each message's elements. */
  bridgeFrames(): Term[][] {
    return this.allFrames()
      .filter((f) => f[0] === BRIDGE_TAG)
      .map((f) => [...(decodeTerm(f.subarray(1)) as Tuple).elements]);
  }

  private allFrames(): Buffer[] {
    // a batch is the frames in it, as Erlang's reactor_from_node reads it
    return new FrameReader(1 << 30).push(Buffer.concat(this.frameBytes)).flatMap((f) => (f[0] === BATCH_TAG ? unbatch(f) : [f]));
  }

  /** The action batches sent so far, all pairs in order. */
  actions(): [number, number][] {
    return this.actionBatches.flat();
  }
}
