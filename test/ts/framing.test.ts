import { FrameError, FrameReader, frame } from "../../ts/framing";

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
});
