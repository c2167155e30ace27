import fc from "fast-check";
import { deflateSync } from "node:zlib";
import {
  Atom,
  Bitstring,
  Float,
  ImproperList,
  MAX_BIG_BYTES,
  MAX_TERM_DEPTH,
  MAX_TERM_SIZE,
  Pid,
  Port,
  Ref,
  Term,
  Tuple,
  atom,
  decodeTerm,
  encodeTerm,
  float,
  tuple,
  utf8,
} from "../../ts/term";

// term_to_binary(T, [{minor_version, 2}]) on OTP 25 (test/erlang/reactor_term_prop_tests
// holds the rest against a live Erlang).
const erl = (hex: string) => Buffer.from(hex, "hex");
const GOLDEN = {
  okText42: erl("83680377026F6B6D0000000474657874612A"),
  bytesList: erl("836B0003010203"),
  neg: erl("8362FFFFFFFF"),
  big64: erl("836E0900000000000000000001"),
  negBig: erl("836E0601000000000001"),
  float: erl("83463FF8000000000000"),
  negZero: erl("83468000000000000000"),
  oneFloat: erl("83463FF0000000000000"),
  map: erl("8374000000016D00000001616101"),
  improper: erl("836C00000001770161770162"),
  unicodeAtom: erl("83770668C3A96C6C6F"),
  latin1Atom: erl("8364000568E96C6C6F"),
  oldFloat: erl("8363312E3530303030303030303030303030303030303030652B30300000000000"),
  nested: erl(
    "836C00000003680477036E696C7709756E646566696E6564770474727565770566616C7365740000000177016B6C0000000262000003E862FFFFFFFB6A6D00000002FF006A",
  ),
  bits: erl("834D0000000103E0"),
  compressed: erl("83500000070E789CCB61606048C9604A6160CD48CDC9C907D2E5F94539A322A322A322A322A322A3222348240B00EC872439"),
  pid: erl("8358770D6E6F6E6F6465406E6F686F7374000000090000000000000000"),
  ref: erl("835A0003770D6E6F6E6F6465406E6F686F737400000000000238BC2AAC00029D159A1F"),
  port: erl("8359770D6E6F6E6F6465406E6F686F73740000000000000000"),
  remotePid: erl("835877096F7468657240626F780000004D0000000300000007"),
  empty: erl("8368046A680074000000006D00000000"),
};

const cases = Number(process.env.FUZZ_CASES ?? 5000);

describe("the term table, against Erlang's own encodings", () => {
  it("encodes as term_to_binary does", () => {
    expect(encodeTerm(tuple(atom("ok"), "text", 42))).toEqual(GOLDEN.okText42);
    expect(encodeTerm([1, 2, 3])).toEqual(GOLDEN.bytesList);
    expect(encodeTerm(-1)).toEqual(GOLDEN.neg);
    expect(encodeTerm(1n << 64n)).toEqual(GOLDEN.big64);
    expect(encodeTerm(-(2 ** 40))).toEqual(GOLDEN.negBig);
    expect(encodeTerm(1.5)).toEqual(GOLDEN.float);
    expect(encodeTerm(-0)).toEqual(GOLDEN.negZero);
    expect(encodeTerm(float(1))).toEqual(GOLDEN.oneFloat);
    expect(encodeTerm({ a: 1 })).toEqual(GOLDEN.map);
    expect(encodeTerm(new Map([[Buffer.from("a"), 1]]))).toEqual(GOLDEN.map);
    expect(encodeTerm(new ImproperList([atom("a")], atom("b")))).toEqual(GOLDEN.improper);
    expect(encodeTerm(atom("héllo"))).toEqual(GOLDEN.unicodeAtom);
    expect(encodeTerm(new Bitstring(Buffer.from([0xff]), 3))).toEqual(GOLDEN.bits);
    expect(encodeTerm(tuple([], tuple(), new Map(), Buffer.alloc(0)))).toEqual(GOLDEN.empty);
    expect(
      encodeTerm([
        tuple(null, undefined, true, false),
        new Map([[atom("k"), [1000, -5]]]),
        Buffer.from([255, 0]),
      ]),
    ).toEqual(GOLDEN.nested);
  });

  it("decodes what term_to_binary wrote", () => {
    expect(decodeTerm(GOLDEN.okText42)).toEqual(tuple(atom("ok"), Buffer.from("text"), 42));
    expect(decodeTerm(GOLDEN.bytesList)).toEqual([1, 2, 3]);
    expect(decodeTerm(GOLDEN.big64)).toBe(1n << 64n);
    expect(decodeTerm(GOLDEN.negBig)).toBe(-(2 ** 40));
    expect(decodeTerm(GOLDEN.float)).toBe(1.5);
    expect(Object.is((decodeTerm(GOLDEN.negZero) as Float).value, -0)).toBe(true);
    expect(decodeTerm(GOLDEN.oneFloat)).toEqual(float(1));
    expect(decodeTerm(GOLDEN.map)).toEqual(new Map([[Buffer.from("a"), 1]]));
    expect(decodeTerm(GOLDEN.improper)).toEqual(new ImproperList([atom("a")], atom("b")));
    expect(decodeTerm(GOLDEN.unicodeAtom)).toBe(atom("héllo"));
    expect(decodeTerm(GOLDEN.latin1Atom)).toBe(atom("héllo"));
    expect(decodeTerm(GOLDEN.oldFloat)).toBe(1.5);
    expect(decodeTerm(GOLDEN.bits)).toEqual(new Bitstring(Buffer.from([0xe0]), 3));
    expect(decodeTerm(GOLDEN.empty)).toEqual(tuple([], tuple(), new Map(), Buffer.alloc(0)));
    const nested = decodeTerm(GOLDEN.nested) as Term[];
    expect(nested[0]).toEqual(tuple(null, undefined, true, false));
    expect((nested[1] as Map<Term, Term>).get(atom("k"))).toEqual([1000, -5]);
    const hello = tuple(atom("hello"), atom("world"));
    expect(decodeTerm(GOLDEN.compressed)).toEqual(Array(100).fill(hello));
  });

  it("keeps pids, references and ports byte for byte", () => {
    const pid = decodeTerm(GOLDEN.pid) as Pid;
    expect(pid).toBeInstanceOf(Pid);
    expect([pid.node, pid.id, pid.serial, pid.creation]).toEqual([atom("nonode@nohost"), 9, 0, 0]);
    expect(String(pid)).toBe("<nonode@nohost.9.0>");
    const remote = decodeTerm(GOLDEN.remotePid) as Pid;
    expect([remote.node, remote.id, remote.serial, remote.creation]).toEqual([atom("other@box"), 77, 3, 7]);
    expect(remote.equals(pid)).toBe(false);
    expect(remote.equals(decodeTerm(GOLDEN.remotePid))).toBe(true);
    const ref = decodeTerm(GOLDEN.ref) as Ref;
    expect(ref).toBeInstanceOf(Ref);
    expect(ref.ids).toHaveLength(3);
    const port = decodeTerm(GOLDEN.port) as Port;
    expect(port).toBeInstanceOf(Port);
    expect(port.id).toBe(0n);
    for (const g of [GOLDEN.pid, GOLDEN.ref, GOLDEN.port, GOLDEN.remotePid]) expect(encodeTerm(decodeTerm(g))).toEqual(g);
    // in any term, and the old formats too (PID_EXT, REFERENCE_EXT, PORT_EXT keep theirs)
    const old = [
      erl("8367640003614062000000010000000203"),
      erl("83656400036140620000000501"),
      erl("83666400036140620000000701"),
      erl("8372000164000361406202" + "0000000A"),
    ];
    for (const g of old) expect(encodeTerm(decodeTerm(g))).toEqual(g);
    const held = encodeTerm(tuple(atom("reply"), ref, [pid, port]));
    expect((decodeTerm(held) as Tuple).elements[1]).toEqual(ref);
  });

  it("maps the four atoms JavaScript has values for, and interns the rest", () => {
    expect(encodeTerm(true)).toEqual(encodeTerm(atom("true")));
    expect(encodeTerm(null)).toEqual(encodeTerm(atom("nil")));
    expect(encodeTerm(undefined)).toEqual(encodeTerm(atom("undefined")));
    expect(decodeTerm(encodeTerm(atom("nil")))).toBe(null);
    expect(decodeTerm(encodeTerm(atom("null")))).toBe(atom("null"));
    expect(atom("ok")).toBe(atom("ok"));
    expect(new Map([[atom("ok"), 1]]).get(decodeTerm(encodeTerm(atom("ok"))) as Atom)).toBe(1);
    expect(() => atom("x".repeat(256))).toThrow(RangeError);
    expect(decodeTerm(encodeTerm(atom("😀".repeat(255))))).toBe(atom("😀".repeat(255)));
  });

  it("keeps integers and floats apart", () => {
    expect(decodeTerm(encodeTerm(2 ** 53 - 1))).toBe(2 ** 53 - 1);
    expect(decodeTerm(encodeTerm(2n ** 53n))).toBe(2n ** 53n);
    expect(decodeTerm(encodeTerm(-(2n ** 200n)))).toBe(-(2n ** 200n));
    expect(decodeTerm(encodeTerm(5n))).toBe(5);
    // 2^53 as a float stays a float: a number that is no safe integer encodes as one
    expect(decodeTerm(encodeTerm(2 ** 53))).toBe(2 ** 53);
    expect(encodeTerm(2 ** 53)[1]).toBe(70);
    const two = decodeTerm(encodeTerm(float(2))) as Float;
    expect(two).toBeInstanceOf(Float);
    expect(+two * 3).toBe(6);
    expect(`${two}`).toBe("2");
    expect(JSON.stringify({ two })).toBe('{"two":2}');
    // #{0 => int, -0.0 => float}: two keys, in JavaScript too
    const zeros = decodeTerm(erl("8374000000026100770369" + "6E74" + "46" + "8000000000000000" + "7705666C6F6174")) as Map<Term, Term>;
    expect(zeros.size).toBe(2);
    expect(zeros.get(0)).toBe(atom("int"));
  });

  it("gives binaries as Buffers, and bytes survive", () => {
    const notUtf8 = Buffer.from([0xff, 0xfe, 0x00, 0xc3]);
    expect(decodeTerm(encodeTerm(notUtf8))).toEqual(notUtf8);
    expect(decodeTerm(encodeTerm(new Uint8Array([1, 2])))).toEqual(Buffer.from([1, 2]));
    expect(decodeTerm(encodeTerm("héllo"))).toEqual(Buffer.from("héllo"));
    expect(utf8(decodeTerm(encodeTerm("\uFEFFhéllo")) as Buffer)).toBe("\uFEFFhéllo");
    expect(() => utf8(notUtf8)).toThrow(TypeError);
    // a decoded binary is a copy: the frame it came from may be reused
    const frame = encodeTerm(Buffer.from("abc"));
    const bin = decodeTerm(frame) as Buffer;
    frame.fill(0);
    expect(bin.toString()).toBe("abc");
  });
});

describe("what cannot be encoded says where it is", () => {
  const fails = (v: unknown, message: string | RegExp, kind: ErrorConstructor = TypeError) => {
    expect(() => encodeTerm(v)).toThrow(kind);
    expect(() => encodeTerm(v)).toThrow(message);
  };

  it("functions, symbols, cycles, non-finite numbers, lone surrogates, foreign objects", () => {
    fails({ user: { tags: [1, 2, 3, () => 0] } }, "value.user.tags[3]: cannot encode a function");
    fails([Symbol("x")], "value[0]: cannot encode a symbol");
    fails({ [Symbol("k")]: 1 }, "value: cannot encode a symbol key");
    const cyclic: Record<string, unknown> = { a: { list: [] as unknown[] } };
    (cyclic.a as { list: unknown[] }).list.push(cyclic.a);
    fails(cyclic, "value.a.list[0]: cannot encode a cycle (this refers back to value.a)");
    fails(tuple(1, NaN), "value.elements[1]: cannot encode NaN");
    fails({ "a b": [Infinity] }, 'value["a b"][0]: cannot encode Infinity');
    fails(new Map([[atom("id"), "\uD800"]]), 'value.get(atom("id")): cannot encode a string with a lone surrogate');
    fails(new ImproperList<unknown>([1], new Date(0)), "value.tail: cannot encode an instance of Date");
    fails([new Set()], "value[0]: cannot encode an instance of Set");
    fails(new Float64Array(1), "value: cannot encode an instance of Float64Array");
    class User {}
    fails({ u: new User() }, "value.u: cannot encode an instance of User");
    fails(
      new Map<unknown, number>([
        ["a", 1],
        [Buffer.from("a"), 2],
      ]),
      "value.keys()[1]: duplicate map key",
    );
  });

  it("a sparse array's holes are undefined, as they read, never bytes", () => {
    expect(decodeTerm(encodeTerm([1, , 3]))).toEqual([1, undefined, 3]); // eslint-disable-line no-sparse-arrays
    const a = new Array(3);
    a[1] = 5;
    expect(decodeTerm(encodeTerm(a))).toEqual([undefined, 5, undefined]);
  });

  it("an error names the value as the caller says", () => {
    expect(() => encodeTerm({ f: () => 1 }, "args[0]")).toThrow("args[0].f: cannot encode a function");
  });

  it("shares without cycles are fine", () => {
    const shared = [1, 2];
    expect(decodeTerm(encodeTerm([shared, { x: shared }]))).toEqual([[1, 2], new Map([[Buffer.from("x"), [1, 2]]])]);
  });
});

describe("bounds", () => {
  const nest = (levels: number): unknown[] => {
    let v: unknown[] = [];
    for (let i = 1; i < levels; i++) v = [v];
    return v;
  };

  it("nesting: MAX_TERM_DEPTH levels and no more, both ways", () => {
    const deepest = encodeTerm(nest(MAX_TERM_DEPTH));
    expect((decodeTerm(deepest) as unknown[]).length).toBe(1);
    expect(() => encodeTerm(nest(MAX_TERM_DEPTH + 1))).toThrow(RangeError);
    expect(() => encodeTerm(nest(MAX_TERM_DEPTH + 1))).toThrow(/nests deeper than 1000 levels/);
    // the same bytes Erlang would write for one level more
    const tooDeep = Buffer.concat([Buffer.from([131, 108, 0, 0, 0, 1]), deepest.subarray(1), Buffer.from([106])]);
    expect(() => decodeTerm(tooDeep)).toThrow(RangeError);
  });

  it("size: MAX_TERM_SIZE bytes and no more, both ways", () => {
    const fits = Buffer.alloc(MAX_TERM_SIZE - 6);
    expect(encodeTerm(fits).length).toBe(MAX_TERM_SIZE);
    expect(() => encodeTerm([Buffer.alloc(MAX_TERM_SIZE - 6)])).toThrow(RangeError);
    expect(() => encodeTerm({ big: Buffer.alloc(MAX_TERM_SIZE) })).toThrow(/value.big: the term encodes to more than/);
    expect(() => decodeTerm(Buffer.alloc(MAX_TERM_SIZE + 1, 131))).toThrow(RangeError);
    const bomb = Buffer.concat([Buffer.from([131, 80, 0xff, 0xff, 0xff, 0xff]), deflateSync(Buffer.alloc(1 << 20))]);
    expect(() => decodeTerm(bomb)).toThrow(RangeError);
    const liar = Buffer.concat([Buffer.from([131, 80, 0, 0, 0, 10]), deflateSync(Buffer.alloc(1 << 20, 106))]);
    expect(() => decodeTerm(liar)).toThrow(SyntaxError);
  });

  it("integers: Erlang's MAX_BIG_BYTES and no more", () => {
    const largest = (1n << BigInt(MAX_BIG_BYTES * 8)) - 1n;
    expect(decodeTerm(encodeTerm(largest))).toBe(largest);
    expect(() => encodeTerm(largest + 1n)).toThrow(RangeError);
    const header = Buffer.from([131, 111, 0, 0, 0, 0, 0]);
    header.writeUInt32BE(MAX_BIG_BYTES + 1, 2);
    expect(() => decodeTerm(Buffer.concat([header, Buffer.alloc(MAX_BIG_BYTES + 1, 1)]))).toThrow(RangeError);
  });
});

// What the bridge takes, nested; what it gives back is `normal(x)` (docs/bridge.md).
const leaf = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.bigInt(),
  fc.bigInt({ min: -(1n << 2100n), max: 1n << 2100n }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(float),
  fc.integer().map(float),
  fc.boolean(),
  fc.constantFrom(null, undefined),
  fc.constantFrom("ok", "error", "true", "nil", "undefined", "", "héllo", "日本").map(atom),
  fc.string({ unit: "binary", maxLength: 20 }).map(atom),
  fc.string({ unit: "binary" }),
  fc.uint8Array().map((u) => Buffer.from(u)),
  fc.uint8Array(),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 7 })).map(([b, n]) => new Bitstring(b, n)),
  fc.constantFrom(GOLDEN.pid, GOLDEN.ref, GOLDEN.port, GOLDEN.remotePid).map(decodeTerm),
);

const { value: encodable } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("value"), { maxLength: 6 }),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }),
    fc.array(tie("value"), { maxLength: 5 }).map((xs) => new Tuple(xs)),
    fc.tuple(fc.array(tie("value"), { minLength: 1, maxLength: 4 }), leaf).map(([xs, t]) => new ImproperList(xs, t)),
    fc
      .uniqueArray(fc.tuple(tie("value"), tie("value")), {
        maxLength: 5,
        selector: ([k]) => encodeTerm(k).toString("latin1"),
      })
      .map((entries) => new Map(entries)),
    fc.dictionary(fc.string(), tie("value"), { maxKeys: 5 }),
  ),
}));

const SPECIAL: Record<string, unknown> = { true: true, false: false, nil: null, undefined: undefined };

/** What decodeTerm(encodeTerm(x)) is, by the table (numbers but -0 are themselves). */
function normal(x: unknown): unknown {
  if (typeof x === "string") return Buffer.from(x);
  if (typeof x === "bigint") return x >= Number.MIN_SAFE_INTEGER && x <= Number.MAX_SAFE_INTEGER ? Number(x) : x;
  if (x instanceof Float) return Number.isSafeInteger(x.value) ? x : x.value;
  if (Object.is(x, -0)) return float(-0);
  if (x instanceof Atom) return Object.prototype.hasOwnProperty.call(SPECIAL, x.name) ? SPECIAL[x.name] : x;
  if (x instanceof Uint8Array) return Buffer.from(x);
  if (Array.isArray(x)) return x.map(normal);
  if (x instanceof Tuple) return new Tuple(x.elements.map(normal));
  if (x instanceof ImproperList) return new ImproperList(x.elements.map(normal), normal(x.tail));
  if (x instanceof Map) return new Map([...x].map(([k, v]) => [normal(k), normal(v)]));
  if (x !== null && typeof x === "object" && !(x instanceof Bitstring) && !(x instanceof Pid || x instanceof Ref || x instanceof Port))
    return new Map(Object.entries(x).map(([k, v]) => [Buffer.from(k), normal(v)]));
  return x;
}

/** Structural equality, stricter than toEqual and much faster: -0 is not 0, Map order counts. */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a.constructor !== b.constructor) return false;
  if (Buffer.isBuffer(a)) return a.equals(b as Buffer);
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => same(x, (b as unknown[])[i]));
  if (a instanceof Tuple) return same(a.elements, (b as Tuple).elements);
  if (a instanceof ImproperList) return same(a.elements, (b as ImproperList).elements) && same(a.tail, (b as ImproperList).tail);
  if (a instanceof Map) return same([...a], [...(b as Map<unknown, unknown>)]);
  if (a instanceof Float) return Object.is(a.value, (b as Float).value);
  if (a instanceof Bitstring) return a.bits === (b as Bitstring).bits && a.bytes.equals((b as Bitstring).bytes);
  if (a instanceof Pid || a instanceof Ref || a instanceof Port) return a.equals(b);
  return false;
}

describe("properties (fast-check)", () => {
  it("what TypeScript encodes decodes to the same term, and that term's bytes come back the same", () => {
    fc.assert(
      fc.property(encodable, (x) => {
        const back = decodeTerm(encodeTerm(x));
        if (!same(back, normal(x))) return false;
        // a decoded term has one encoding ([0n] and [0] did not: LIST_EXT and STRING_EXT)
        const bytes = encodeTerm(back);
        return encodeTerm(decodeTerm(bytes)).equals(bytes);
      }),
      { numRuns: cases },
    );
  });

  it("random bytes give a clear error or a term, never a crash", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => clean(Buffer.concat([Buffer.from([131]), tail]))),
      { numRuns: cases },
    );
  });

  it("mutated and truncated encodings give a clear error or a term, never a crash", () => {
    const mutated = fc
      .tuple(encodable, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
      .map(([x, edits]) => {
        const b = Buffer.from(encodeTerm(x));
        for (const [at, byte] of edits) b[1 + (at % Math.max(1, b.length - 1))] = byte;
        return b;
      });
    fc.assert(fc.property(mutated, clean), { numRuns: cases });
    fc.assert(
      fc.property(encodable, fc.nat(), (x, cut) => {
        const b = encodeTerm(x);
        return throws(() => decodeTerm(b.subarray(0, 1 + (cut % (b.length - 1))))) instanceof SyntaxError;
      }),
      { numRuns: cases },
    );
  });
});

const CLEAR = /^(malformed term at byte \d+|not an External|the term nests|an integer of|a compressed term|a fun at|a LOCAL_EXT)/;

/** Whether decoding `b` gives a term or one of the documented errors, nothing else. */
function clean(b: Buffer): boolean {
  const e = throws(() => decodeTerm(b));
  if (e === undefined) return true;
  const kind = e instanceof SyntaxError || e instanceof RangeError || e instanceof TypeError;
  return kind && CLEAR.test((e as Error).message);
}

function throws(f: () => unknown): unknown {
  try {
    f();
    return undefined;
  } catch (e) {
    return e;
  }
}
