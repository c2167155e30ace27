// {packet, 4} framing: a 4-byte big-endian length, then the payload.

export class FrameError extends Error {}

export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

/** Reassembles frames from arbitrary chunks. Frames larger than maxFrame are an error:
 * the peer is broken and nothing after it can be trusted. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrame: number) {}

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    while (this.buffered >= 4) {
      const head = this.chunks[0].length >= 4 ? this.chunks[0] : this.coalesce();
      const len = head.readUInt32BE(0);
      if (len > this.maxFrame) throw new FrameError(`frame of ${len} bytes exceeds the ${this.maxFrame}-byte limit`);
      if (this.buffered < 4 + len) break;
      const all = this.chunks.length === 1 ? this.chunks[0] : this.coalesce();
      frames.push(all.subarray(4, 4 + len));
      const rest = all.subarray(4 + len);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }

  private coalesce(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }
}

/** The first byte of a batch: frames sent in one write, each a 4-byte
 * big-endian length and its payload, with no batch inside (both ways;
 * reactor_node:send/2, Outbox.flush). */
export const BATCH_TAG = 0x4d; // "M"

/** The frames of a batch's payload (BATCH_TAG first).
 * @throws FrameError for a length past the end, an empty frame or a batch inside */
export function unbatch(batch: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 1; at < batch.length; ) {
    if (at + 4 > batch.length) throw new FrameError("a batch ends inside a frame's length");
    const len = batch.readUInt32BE(at);
    at += 4;
    if (len === 0 || at + len > batch.length) throw new FrameError(`a batch's frame of ${len} bytes does not fit it`);
    if (batch[at] === BATCH_TAG) throw new FrameError("a batch inside a batch");
    out.push(batch.subarray(at, at + len));
    at += len;
  }
  return out;
}

/** `payloads` as {packet, 4} frames, runs of two or more that `batchable`
 * allows each put in one batch frame. */
export function frameAll(payloads: readonly Buffer[], batchable: (p: Buffer) => boolean): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < payloads.length; ) {
    let j = i;
    while (j < payloads.length && batchable(payloads[j])) j++;
    if (j - i >= 2) {
      const run = payloads.slice(i, j);
      const size = run.reduce((n, p) => n + 4 + p.length, 1);
      const b = Buffer.allocUnsafe(4 + size);
      b.writeUInt32BE(size, 0);
      b[4] = BATCH_TAG;
      let at = 5;
      for (const p of run) {
        b.writeUInt32BE(p.length, at);
        b.set(p, at + 4);
        at += 4 + p.length;
      }
      out.push(b);
      i = j;
    } else {
      out.push(frame(payloads[i]));
      i++;
    }
  }
  return out.length === 1 ? out[0] : Buffer.concat(out);
}
