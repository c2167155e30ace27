// The port's input: Erlang's end of the port (open_port's stdin), read by the
// addon's watch (Addon.watch) rather than process.stdin, cut into {packet,4}
// frames (a batch's frames each on its own), and handed on one per call, so
// that each frame's ticks and microtasks run before the next frame's, as
// after each of Node's own I/O callbacks (docs/performance.md, step 8).
import type { Io } from "./addon";
import { stackOf } from "./errors";
import { BATCH_TAG, FrameError, FrameReader, unbatch } from "./framing";
import { MAX_IN_FRAME } from "./limits";

/** The port's input fd. */
export const INPUT_FD = 0;
/** Bytes one read of the input takes at most. */
const INPUT_READ = 65536;
/** Bytes one readable event takes at most (libuv's watch is level-triggered: the rest comes next). */
const MAX_INPUT_PER_EVENT = 1 << 20;
const EMPTY = Buffer.alloc(0);

/** Where the input's frames go, and what ends it. */
export interface InputSink {
  /** one whole frame */
  frame(f: Buffer): void;
  /** every frame read so far is dispatched */
  drained(): void;
  /** the input reached its end (or failed) and every frame before it is dispatched */
  ended(): void;
  /** bytes that are no frames: Erlang's side is broken */
  fatal(why: string): never;
}

/** Frames read and not yet dispatched, in order, and the reads that fill it. */
export class PortInput {
  private readonly reader = new FrameReader(MAX_IN_FRAME);
  /** oldest first from `next` */
  private readonly queued: Buffer[] = [];
  private next = 0;
  private readonly buf = Buffer.allocUnsafe(INPUT_READ);
  private atEnd = false;

  constructor(
    private readonly io: Pick<Io, "readInto">,
    private readonly sink: InputSink,
  ) {}

  /** As Addon.watch calls it: what the fd holds is read (when readable or
   * broken), then one frame is dispatched; true while more wait. */
  onEvents(events: number): boolean {
    if (events & 5) this.read();
    return this.step();
  }

  /** Bytes from Erlang into whole frames, queued in order. Bytes that are
   * no frame, or a batch that does not cut, end the port (sink.fatal). */
  push(chunk: Buffer): void {
    try {
      for (const f of this.reader.push(chunk)) {
        if (f[0] !== BATCH_TAG) this.queued.push(f);
        else for (const sub of unbatch(f)) this.queued.push(sub);
      }
    } catch (e) {
      this.sink.fatal(e instanceof FrameError ? e.message : stackOf(e));
    }
  }

  /** The oldest queued frame, dispatched; true while more wait. Once none
   * does, the sink is told (drained), and an input at its end ends. */
  step(): boolean {
    if (this.next < this.queued.length) {
      const f = this.queued[this.next];
      this.queued[this.next++] = EMPTY;
      this.sink.frame(f);
      if (this.next < this.queued.length) return true;
    }
    this.queued.length = 0;
    this.next = 0;
    this.sink.drained();
    if (this.atEnd) this.sink.ended();
    return false;
  }

  private read(): void {
    for (let total = 0; total < MAX_INPUT_PER_EVENT; ) {
      let n: number;
      try {
        n = this.io.readInto(INPUT_FD, this.buf, 0, this.buf.length);
      } catch {
        n = 0; // EIO and the like: Erlang's end is unusable, as when it closed
      }
      if (n < 0) return;
      if (n === 0) {
        this.atEnd = true;
        return;
      }
      this.push(Buffer.from(this.buf.subarray(0, n)));
      total += n;
    }
  }
}
