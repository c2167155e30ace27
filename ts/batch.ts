// The batch layout: which connections are ready (Erlang -> Node) and what Node
// answers for them (Node -> Erlang), as packets on the batch socket, a
// SOCK_SEQPACKET pair (native/nif/cycle.c has the other end). Fixed-size
// entries in host byte order, no ETF: the per-event path costs a recv, a
// loop over a Uint32Array and a send.
//
//   ready:   u32 per connection: id | 1 << 31 when it was armed for writing
//   actions: (u32 id, u32 code) per answer; code = ACTION_CODES[action], with
//            ACK added for a handoff's first answer
//
// The layout's home is native/reactor_shared.h; these are Node's copies, held
// to it by test/ts/golden.test.ts.
import type { BatchAction } from "./types";

/** Bytes per ready entry (REACTOR_READY_ENTRY_BYTES): a u32. */
export const READY_ENTRY_BYTES = 4;
export const READY_WRITE_BIT = 0x80000000;
/** Connections one ready batch names at most (the poller's epoll_wait size). */
export const MAX_READY_PER_BATCH = 1024;
/** Bytes per action entry (REACTOR_ACTION_ENTRY_BYTES): u32 id, u32 code. */
export const ACTION_ENTRY_BYTES = 8;
/** Answers one action batch carries at most (the NIF refuses larger ones). */
export const MAX_ACTIONS_PER_BATCH = 1024;

/** The code of each action Node sends. A handler's "continue" has none: Node
 * sends the action of the event it answers (Connection's toBatchAction). */
export const ACTION_CODES: Readonly<Record<BatchAction, number>> = { read_pending: 2, write_pending: 3, close: 4, linger: 5 };
/** Added to the code of a handoff's first answer (connectionMade's). */
export const ACK = 0x10;
/** Added to read_pending when the fd's last read drained it (RawFd.drained):
 * the poller arms it without polling it again (native/reactor_shared.h). */
export const DRAINED = 0x20;

export class BatchError extends Error {}

/** Bytes per ready batch in a receive buffer: one batch fits, with room to
 * notice a larger one. */
export const READY_SLOT = (MAX_READY_PER_BATCH + 1) * READY_ENTRY_BYTES;

/** A buffer `count` ready batches fit in, READY_SLOT bytes apart. */
export function readyBuffer(count = 1): Uint8Array {
  return new Uint8Array(new ArrayBuffer(READY_SLOT * count));
}

/**
 * The connections of ready batches, in the order Erlang named them: each
 * batch is checked whole as it is pushed (a malformed one throws: Erlang's
 * side is broken), then its entries are taken one at a time. Its bound is the
 * port's: it refills the queue only once it is empty, with two recvmmsg calls
 * at most (32 packets each, of at most MAX_READY_PER_BATCH entries).
 */
export class ReadyQueue {
  private words = new Uint32Array(MAX_READY_PER_BATCH * 4);
  private head = 0;
  private tail = 0;

  get empty(): boolean {
    return this.head === this.tail;
  }

  /** The ready batch of `size` bytes at the start of `buf` (from readyBuffer()). */
  push(buf: Uint8Array, size: number): void {
    if (size <= 0 || size % READY_ENTRY_BYTES !== 0 || size > MAX_READY_PER_BATCH * READY_ENTRY_BYTES || size > buf.length) {
      throw new BatchError(`malformed ready batch: ${size} bytes`);
    }
    const batch = new Uint32Array(buf.buffer, buf.byteOffset, size / READY_ENTRY_BYTES);
    for (let i = 0; i < batch.length; i++) {
      if ((batch[i] & ~READY_WRITE_BIT) === 0) throw new BatchError("malformed ready batch: connection id 0");
    }
    if (this.tail + batch.length > this.words.length) {
      const live = this.words.subarray(this.head, this.tail);
      const room = this.tail - this.head + batch.length > this.words.length ? new Uint32Array(2 * (this.tail - this.head + batch.length)) : this.words;
      room.set(live);
      this.words = room;
      this.tail -= this.head;
      this.head = 0;
    }
    this.words.set(batch, this.tail);
    this.tail += batch.length;
  }

  /** The next entry: the connection's id, | READY_WRITE_BIT when it was
   * armed for writing. Only when not empty. */
  shift(): number {
    const w = this.words[this.head++];
    if (this.head === this.tail) this.head = this.tail = 0;
    return w;
  }
}

/** How long (ms) Node serves ready connections in one callback (serveSlice):
 * then the slice's writes and the answers so far leave, so the peers answer
 * and Erlang re-arms those while Node goes on with the rest (the next ready
 * batch is on its way before this one is done), and the ticks and
 * microtasks the slice queued run before the next one (Addon.watch).
 * Shorter costs more packets, wake-ups and callbacks than it saves. Why
 * 0.1: docs/performance.md, steps 3, 8 and 10. */
export const ANSWER_AFTER_MS = 0.1;

/** Serves the connections `queue` holds with `ready` until it is empty
 * (returns false) or `afterMs` has gone by since the slice began (returns
 * true: more waits). Time is checked after each connection, so a slice
 * serves at least one. */
export function serveSlice(
  queue: ReadyQueue,
  ready: (id: number, write: boolean) => void,
  now: () => number = () => performance.now(),
  afterMs = ANSWER_AFTER_MS,
): boolean {
  const began = now();
  do {
    const w = queue.shift();
    ready(w & ~READY_WRITE_BIT, w >= READY_WRITE_BIT);
    if (queue.empty) return false;
  } while (now() - began <= afterMs);
  return true;
}

/** Answers gathered during one dispatch, sealed into packets. */
export class ActionBatch {
  private words = new Uint32Array((MAX_ACTIONS_PER_BATCH * ACTION_ENTRY_BYTES) / 4);
  private count = 0;
  private sealed: Uint8Array[] = [];

  get empty(): boolean {
    return this.count === 0 && this.sealed.length === 0;
  }

  push(id: number, action: BatchAction, ack = false, drained = false): void {
    this.words[2 * this.count] = id;
    this.words[2 * this.count + 1] = ACTION_CODES[action] + (ack ? ACK : 0) + (drained && (action === "read_pending" || action === "linger") ? DRAINED : 0);
    if (++this.count === MAX_ACTIONS_PER_BATCH) this.seal();
  }

  /** Every packet, oldest first; the batch is empty after. A view of the
   * last one may be reused by the next push: send or copy before then. */
  take(): Uint8Array[] {
    const out = this.sealed;
    this.sealed = [];
    if (this.count) {
      out.push(new Uint8Array(this.words.buffer, 0, this.count * ACTION_ENTRY_BYTES));
      this.count = 0;
    }
    return out;
  }

  private seal(): void {
    this.sealed.push(new Uint8Array(this.words.buffer.slice(0, this.count * ACTION_ENTRY_BYTES)));
    this.count = 0;
  }
}
