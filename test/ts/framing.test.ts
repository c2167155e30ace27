import { BATCH_TAG, FrameError, FrameReader, frame, frameAll, unbatch } from "../../ts/framing";

describe("framing", () => {
  it("round-trips frames split at every byte boundary", () => {
    const payloads = [Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(70000, 7), Buffer.from("last")];
    const wire = Buffer.concat(payloads.map(frame));
    for (const step of [1, 3, 4, 5, 1000, wire.length]) {
      const r = new FrameReader(1 << 20);
      const got: Buffer[] = [];
      for (let i = 0; i < wire.length; i += step) got.push(...r.push(wire.subarray(i, i + step)));
      expect(got.map((b) => b.toString("hex"))).toEqual(payloads.map((b) => b.toString("hex")));
    }
  });

  it("refuses a frame over the limit before buffering it", () => {
    const r = new FrameReader(10);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(11, 0);
    expect(() => r.push(head)).toThrow(FrameError);
  });

  it("keeps a partial frame until the rest arrives", () => {
    const r = new FrameReader(100);
    const f = frame(Buffer.from("hello"));
    expect(r.push(f.subarray(0, 6))).toEqual([]);
    expect(r.push(f.subarray(6)).map(String)).toEqual(["hello"]);
  });

  it("puts runs of two or more batchable payloads in one batch, in order", () => {
    const b = (t: string) => Buffer.from("B" + t);
    const c = (t: string) => Buffer.from([131, ...Buffer.from(t)]);
    const payloads = [c("x"), b("1"), b("22"), c("y"), b("3"), b("4"), b("5"), b("lone"), c("z"), b("end")];
    const isB = (p: Buffer) => p[0] === 0x42 && p.toString() !== "Blone";
    const frames = new FrameReader(1 << 20).push(frameAll(payloads, isB));
    expect(frames.map((f) => f[0] === BATCH_TAG)).toEqual([false, true, false, true, false, false, false]);
    const flat = frames.flatMap((f) => (f[0] === BATCH_TAG ? unbatch(f) : [f]));
    expect(flat.map((f) => f.toString("hex"))).toEqual(payloads.map((p) => p.toString("hex")));
    expect(frameAll([b("only")], isB)).toEqual(frame(b("only"))); // a lone frame goes as it is
  });

  it.each([
    ["a length cut off", Buffer.from([BATCH_TAG, 0, 0]), "a batch ends inside a frame's length"],
    ["a frame past the end", Buffer.from([BATCH_TAG, 0, 0, 0, 9, 0x42]), "a batch's frame of 9 bytes does not fit it"],
    ["an empty frame", Buffer.from([BATCH_TAG, 0, 0, 0, 0]), "a batch's frame of 0 bytes does not fit it"],
    ["a batch inside", Buffer.from([BATCH_TAG, 0, 0, 0, 1, BATCH_TAG]), "a batch inside a batch"],
  ])("refuses a batch with %s", (_what, bytes, why) => {
    expect(() => unbatch(bytes)).toThrow(new FrameError(why));
  });
});
