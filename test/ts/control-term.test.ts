import * as erlpack from "erlpack";
import * as fs from "fs";
import * as path from "path";
import { EtfError, decodeControl } from "../../ts/control-term";

const bytes = (...parts: (number | string)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from([p]))));
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b.toString("latin1");
};

// A seeded generator of the values erlpack packs: what it reads back, the decoder must too.
function values(seed: number) {
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const strings = ["", "a", "127.0.0.1", "ünïcödé ✓", "x".repeat(40), "ü".repeat(30), "__proto__", "true"];
  const value = (depth: number): unknown => {
    const k = Math.floor(rnd() * (depth > 3 ? 5 : 8));
    switch (k) {
      case 0:
        return Math.floor(rnd() * 256);
      case 1:
        return Math.floor((rnd() - 0.5) * 2 ** 32);
      case 2:
        return strings[Math.floor(rnd() * strings.length)];
      case 3:
        return [true, false, null][Math.floor(rnd() * 3)];
      case 4:
        return rnd() * 1e6;
      case 5:
        return Array.from({ length: Math.floor(rnd() * 5) }, () => value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = Math.floor(rnd() * 5); i > 0; i--) o[strings[Math.floor(rnd() * 6)] + i] = value(depth + 1);
        return o;
      }
    }
  };
  return value;
}

describe("decodeControl: the port's control frames", () => {
  it("reads what erlpack reads, as erlpack gives it", () => {
    const value = values(7);
    for (let i = 0; i < 2000; i++) {
      const frame = erlpack.pack(value(0) as never);
      expect(decodeControl(frame)).toEqual(erlpack.unpack(frame));
    }
  });

  it("reads every frame Erlang sends (test/golden) as erlpack would, atoms as UTF-8", () => {
    const dir = path.join(__dirname, "..", "golden");
    const frames = fs.readdirSync(dir).filter((f) => /^to_node_.*\.etf$/.test(f) && !f.startsWith("to_node_bridge"));
    expect(frames.length).toBeGreaterThan(8);
    for (const f of frames) {
      const frame = fs.readFileSync(path.join(dir, f));
      // reactor_wire writes minor version 2 (OTP 26's default): atoms are SMALL_ATOM_UTF8, which erlpack 0.1.4 cannot read
      expect(frame.includes(119)).toBe(true);
      const t = decodeControl(frame) as unknown[];
      expect(Array.isArray(t) && typeof t[0] === "string").toBe(true);
      // the same frame with Latin-1 atoms (OTP 25's default) reads the same, and as erlpack reads it
      const latin1 = toLatin1Atoms(frame);
      expect(decodeControl(latin1)).toEqual(t);
      expect(erlpack.unpack(latin1)).toEqual(t);
    }
  });

  it("reads tuples, UTF-8 and Latin-1 atoms, STRING_EXT, integers and floats", () => {
    expect(decodeControl(bytes(131, 104, 2, 119, 2, "ok", 118, 0, 3, "\xc3\xa9t"))).toEqual(["ok", "ét"]);
    expect(decodeControl(bytes(131, 115, 2, "\xe9t"))).toBe("ét"); // Latin-1
    expect(decodeControl(bytes(131, 104, 3, 119, 4, "true", 115, 3, "nil", 100, 0, 4, "null"))).toEqual([true, null, null]);
    expect(decodeControl(bytes(131, 107, 0, 3, "abc"))).toEqual([97, 98, 99]);
    expect(decodeControl(bytes(131, 98, 255, 255, 255, 254))).toBe(-2);
    expect(decodeControl(bytes(131, 110, 4, 1, 255, 255, 255, 127))).toBe(-0x7fffffff);
    expect(decodeControl(bytes(131, 110, 5, 0, 0, 0, 0, 0, 1))).toBe("4294967296"); // as erlpack: past 32 bits, a string
    const f = Buffer.alloc(10);
    f[0] = 131;
    f[1] = 70;
    f.writeDoubleBE(1.5, 2);
    expect(decodeControl(f)).toBe(1.5);
    expect(decodeControl(bytes(131, 116, u32(1), 97, 7, 106))).toEqual({ 7: [] });
  });

  it("keeps a __proto__ key an own property", () => {
    const o = decodeControl(bytes(131, 116, u32(1), 109, u32(9), "__proto__", 116, u32(1), 119, 1, "x", 97, 1)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(o, "__proto__")?.value).toEqual({ x: 1 });
    expect((o as { x?: unknown }).x).toBeUndefined();
  });

  it("refuses what is not one well-formed term of the port's types, with an EtfError", () => {
    const bad: [Buffer, RegExp][] = [
      [bytes(130, 97, 1), /version 131/],
      [bytes(131), /version 131/],
      [bytes(131, 97, 1, 0), /1 trailing bytes/],
      [bytes(131, 108, u32(2 ** 29), 106), /exceeds the frame/],
      [bytes(131, 116, u32(2 ** 28)), /exceeds the frame/],
      [bytes(131, 108, u32(1), 97, 1, 97, 2), /improper list/],
      [bytes(131, 109, u32(10), "abc"), /truncated/],
      [bytes(131, 110, 9, 0, "123456789"), /too large/],
      [bytes(131, 88, 119, 1, "n", 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), /term type 88/], // a pid
      [bytes(131, 80, 0, 0, 0, 1, 120), /term type 80/], // compressed
      [bytes(131, 116, u32(1), 106, 97, 1), /map key/],
      [Buffer.concat([bytes(131), ...Array.from({ length: 40 }, () => bytes(104, 1)), bytes(97, 1)]), /nested deeper than 32/],
    ];
    for (const [frame, why] of bad) expect(() => decodeControl(frame)).toThrow(why);
    for (const [frame] of bad) expect(() => decodeControl(frame)).toThrow(EtfError);
  });

  // `make fuzz` sets FUZZ_CASES much higher.
  const cases = Number(process.env.FUZZ_CASES ?? 5000);
  it(`answers ${cases} mutated frames with a value or an EtfError`, () => {
    const value = values(99);
    let seed = 4242;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let errors = 0;
    for (let i = 0; i < cases; i++) {
      const f = Buffer.from(erlpack.pack(value(0) as never));
      for (let k = 0; k < 2; k++) f[1 + Math.floor(rnd() * (f.length - 1))] = Math.floor(rnd() * 256);
      try {
        decodeControl(f);
      } catch (e) {
        expect(e).toBeInstanceOf(EtfError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(cases / 10);
  });
});

/** The frame with its UTF-8 atoms written as Latin-1 ones (ASCII names: the same bytes). */
function toLatin1Atoms(frame: Buffer): Buffer {
  const out: number[] = [];
  const walk = (at: number): number => {
    const tag = frame[at];
    const copy = (n: number) => {
      for (let i = 0; i < n; i++) out.push(frame[at + i]);
      return at + n;
    };
    switch (tag) {
      case 119:
        out.push(115);
        at++;
        return copy(1 + frame[at]);
      case 118:
        out.push(100);
        at++;
        return copy(2 + frame.readUInt16BE(at));
      case 97:
        return copy(2);
      case 98:
        return copy(5);
      case 70:
        return copy(9);
      case 106:
        return copy(1);
      case 109:
        return copy(5 + frame.readUInt32BE(at + 1));
      case 107:
        return copy(3 + frame.readUInt16BE(at + 1));
      case 110:
        return copy(3 + frame[at + 1]);
      case 104: {
        const n = frame[at + 1];
        at = copy(2);
        for (let i = 0; i < n; i++) at = walk(at);
        return at;
      }
      case 108:
      case 116: {
        const n = frame.readUInt32BE(at + 1) * (tag === 116 ? 2 : 1);
        at = copy(5);
        for (let i = 0; i < n; i++) at = walk(at);
        return tag === 108 ? walk(at) : at;
      }
      default:
        throw new Error(`tag ${tag} in a golden frame`);
    }
  };
  out.push(131);
  walk(1);
  return Buffer.from(out);
}
