// JavaScript values to the External Term Format (version 131), as
// docs/bridge.md tables them. What has no Erlang term throws a TypeError that
// says where in the value it is; a term past the bounds of ts/limits.ts throws
// a RangeError. Erlang reads the result with binary_to_term(B, [safe])
// (reactor_term:decode/1), so atoms it does not know are refused there.

import { MAX_BIG_BYTES, MAX_TERM_DEPTH, MAX_TERM_SIZE } from "./limits";
import { Atom, Bitstring, Float, ImproperList, Opaque, TAG, Tuple, wellFormed } from "./term-types";

/**
 * The External Term Format encoding of `value`, version byte first: what
 * Erlang's `binary_to_term/1` reads.
 *
 * @param value any {@link Encodable} value.
 * @param name what an error calls the value (default `value`).
 * @returns a Buffer of at most MAX_TERM_SIZE bytes.
 * @throws TypeError naming the path in `value` (`value.user.tags[3]: cannot
 *   encode a function`) of a function, a symbol, a cycle, NaN or an infinity, a
 *   string with a lone surrogate, an object that is neither plain nor one of the
 *   term classes, or a Map with two keys that encode as the same term.
 * @throws RangeError when the encoding would pass MAX_TERM_SIZE bytes, when
 *   the value nests deeper than MAX_TERM_DEPTH, or when an integer's magnitude
 *   has more than MAX_BIG_BYTES bytes.
 */
export function encodeTerm(value: unknown, name = "value"): Buffer {
  return withEncoder((e) => {
    e.root = name;
    e.byte(TAG.VERSION);
    e.value(value, 0);
    return e.result();
  });
}

/**
 * `head` (bytes written as they are), then the External Term Format of a
 * tuple of `elements`, version byte first, in one pass: a bridge frame
 * (bridge.ts frameOf). `names[i]` names element i in an error instead of
 * `value` (`args[0].user: cannot encode a function`).
 * @throws as encodeTerm; MAX_TERM_SIZE bounds the whole result.
 */
export function encodeTuple(head: readonly number[], elements: readonly unknown[], names: readonly string[] = []): Buffer {
  return withEncoder((e) => {
    for (const b of head) e.byte(b);
    e.byte(TAG.VERSION);
    e.tupleHead(elements.length);
    for (let i = 0; i < elements.length; i++) {
      e.root = names[i] || "value";
      e.value(elements[i], 0);
    }
    return e.result();
  });
}

/** One encoder kept between calls: its buffer is reused, and what it made is
 * copied out once. A getter that encodes while an encoding is under way gets
 * an encoder of its own. */
let spare: Encoder | undefined;
function withEncoder<T>(f: (e: Encoder) => T): T {
  const e = spare ?? new Encoder();
  spare = undefined;
  try {
    return f(e);
  } finally {
    e.reset();
    spare = e;
  }
}

/** A step of the path to the value being encoded: a key, an index, or a Map entry. */
type Step = string | number | { mapKey: number } | { mapValue: unknown };

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** Each atom's encoding, made once (atoms are interned, so this is bounded as the atom table is). */
const atomCache = new WeakMap<Atom, Buffer>();
const ATOMS = new Map(["true", "false", "undefined", "nil"].map((n) => [n, atomBytes(Atom.of(n))]));

/** What an idle encoder's buffer is cut back to once a large term grew it. */
const KEEP_BYTES = 65536;

class Encoder {
  private buf = Buffer.allocUnsafe(4096);
  private pos = 0;
  private readonly path: Step[] = [];
  /** The containers being encoded, outermost first, and the path length
   * where each was entered: an array, not a Map, as terms are shallow. */
  private readonly open: object[] = [];
  private readonly openAt: number[] = [];
  /** what an error calls the value encoded */
  root = "value";

  /** A copy of what was written. */
  result(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  reset(): void {
    this.pos = 0;
    this.path.length = 0;
    this.open.length = 0;
    this.openAt.length = 0;
    this.root = "value";
    if (this.buf.length > KEEP_BYTES) this.buf = Buffer.allocUnsafe(KEEP_BYTES);
  }

  tupleHead(n: number): void {
    if (n <= 0xff) {
      this.ensure(2);
      this.u8(TAG.SMALL_TUPLE).u8(n);
    } else {
      this.ensure(5);
      this.u8(TAG.LARGE_TUPLE).u32(n);
    }
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  value(v: unknown, depth: number): void {
    switch (typeof v) {
      case "number":
        return this.number(v);
      case "bigint":
        return this.bigint(v);
      case "boolean":
        return this.bytes(ATOMS.get(v ? "true" : "false")!);
      case "undefined":
        return this.bytes(ATOMS.get("undefined")!);
      case "string":
        return this.string(v);
      case "symbol":
        return this.fail("cannot encode a symbol");
      case "function":
        return this.fail("cannot encode a function");
      default:
        return v === null ? this.bytes(ATOMS.get("nil")!) : this.object(v as object, depth);
    }
  }

  private object(v: object, depth: number): void {
    if (v instanceof Atom) return this.bytes(atomBytes(v));
    if (v instanceof Float) return this.float(v.value);
    if (v instanceof Uint8Array) return this.binary(v);
    if (v instanceof Opaque) return this.bytes(v.bytes);
    if (v instanceof Bitstring) {
      this.ensure(6 + v.bytes.length);
      this.u8(TAG.BIT_BINARY).u32(v.bytes.length).u8(v.bits);
      return this.bytes(v.bytes);
    }
    const proto = Object.getPrototypeOf(v);
    const plain = proto === Object.prototype || proto === null;
    if (!(Array.isArray(v) || v instanceof Tuple || v instanceof ImproperList || v instanceof Map || plain))
      return this.fail(`cannot encode ${describe(v)}`);
    if (depth >= MAX_TERM_DEPTH)
      throw new RangeError(`${this.where()}: the term nests deeper than ${MAX_TERM_DEPTH} levels (MAX_TERM_DEPTH)`);
    const seen = this.open.indexOf(v);
    if (seen >= 0)
      this.fail(`cannot encode a cycle (this refers back to ${formatPath(this.root, this.path.slice(0, this.openAt[seen]))})`);
    this.open.push(v);
    this.openAt.push(this.path.length);
    if (Array.isArray(v)) this.list(v, depth + 1);
    else if (v instanceof Tuple) this.tuple(v, depth + 1);
    else if (v instanceof ImproperList) this.improper(v, depth + 1);
    else if (v instanceof Map) this.map(v, depth + 1);
    else this.plain(v as Record<string, unknown>, depth + 1);
    this.open.pop();
    this.openAt.pop();
  }

  private list(v: readonly unknown[], depth: number): void {
    const n = v.length;
    if (n === 0) return this.byte(TAG.NIL);
    if (n <= 0xffff && allBytes(v)) {
      // Erlang's own encoding of a list of bytes (STRING_EXT).
      this.ensure(3 + n);
      this.u8(TAG.STRING).u16(n);
      for (let i = 0; i < n; i++) this.buf[this.pos++] = v[i] as number;
      return;
    }
    this.ensure(5);
    this.u8(TAG.LIST).u32(n);
    this.elements(v, depth);
    this.byte(TAG.NIL);
  }

  private tuple(v: Tuple<unknown>, depth: number): void {
    this.tupleHead(v.elements.length);
    this.path.push("elements");
    this.elements(v.elements, depth);
    this.path.pop();
  }

  private improper(v: ImproperList<unknown>, depth: number): void {
    this.ensure(5);
    this.u8(TAG.LIST).u32(v.elements.length);
    this.path.push("elements");
    this.elements(v.elements, depth);
    this.path.pop();
    this.path.push("tail");
    this.value(v.tail, depth);
    this.path.pop();
  }

  private elements(v: readonly unknown[], depth: number): void {
    for (let i = 0; i < v.length; i++) {
      this.path.push(i);
      this.value(v[i], depth);
      this.path.pop();
    }
  }

  private map(v: ReadonlyMap<unknown, unknown>, depth: number): void {
    this.ensure(5);
    this.u8(TAG.MAP).u32(v.size);
    // Erlang refuses a map with a key twice; say which key here instead.
    const keys = v.size > 1 ? new Set<string>() : undefined;
    let i = 0;
    for (const [key, value] of v) {
      this.path.push({ mapKey: i++ });
      const start = this.pos;
      this.value(key, depth);
      if (keys) {
        const bytes = this.buf.toString("latin1", start, this.pos);
        if (keys.has(bytes)) this.fail("duplicate map key: another key encodes as the same Erlang term");
        keys.add(bytes);
      }
      this.path.pop();
      this.path.push({ mapValue: key });
      this.value(value, depth);
      this.path.pop();
    }
  }

  private plain(v: Record<string, unknown>, depth: number): void {
    if (Object.getOwnPropertySymbols(v).some((s) => Object.prototype.propertyIsEnumerable.call(v, s)))
      this.fail("cannot encode a symbol key");
    const keys = Object.keys(v);
    this.ensure(5);
    this.u8(TAG.MAP).u32(keys.length);
    for (const key of keys) {
      this.path.push(key);
      this.string(key);
      this.value(v[key], depth);
      this.path.pop();
    }
  }

  private number(v: number): void {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) return this.integer(v);
    if (Number.isFinite(v)) return this.float(v);
    this.fail(`cannot encode ${v}: Erlang floats are finite`);
  }

  private integer(v: number): void {
    if (v >= 0 && v <= 0xff) {
      this.ensure(2);
      this.u8(TAG.SMALL_INTEGER).u8(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      this.ensure(5);
      this.u8(TAG.INTEGER);
      this.pos = this.buf.writeInt32BE(v, this.pos);
    } else this.big(BigInt(v));
  }

  private bigint(v: bigint): void {
    if (v >= INT32_MIN && v <= INT32_MAX) this.integer(Number(v));
    else this.big(v);
  }

  private big(v: bigint): void {
    const negative = v < 0n;
    let hex = (negative ? -v : v).toString(16);
    if (hex.length % 2) hex = "0" + hex;
    const n = hex.length / 2;
    if (n > MAX_BIG_BYTES)
      throw new RangeError(`${this.where()}: an integer of ${n} bytes is past Erlang's ${MAX_BIG_BYTES} (MAX_BIG_BYTES)`);
    if (n <= 0xff) {
      this.ensure(3 + n);
      this.u8(TAG.SMALL_BIG).u8(n);
    } else {
      this.ensure(6 + n);
      this.u8(TAG.LARGE_BIG).u32(n);
    }
    this.u8(negative ? 1 : 0);
    // ETF's digits are little-endian.
    const digits = Buffer.from(hex, "hex").reverse();
    this.bytes(digits);
  }

  private float(v: number): void {
    this.ensure(9);
    this.u8(TAG.NEW_FLOAT);
    this.pos = this.buf.writeDoubleBE(v, this.pos);
  }

  private string(v: string): void {
    if (!wellFormed(v)) this.fail("cannot encode a string with a lone surrogate: it has no UTF-8");
    const n = Buffer.byteLength(v, "utf8");
    this.ensure(5 + n);
    this.u8(TAG.BINARY).u32(n);
    this.pos += this.buf.write(v, this.pos, n, "utf8");
  }

  private binary(v: Uint8Array): void {
    this.ensure(5 + v.length);
    this.u8(TAG.BINARY).u32(v.length);
    this.bytes(v);
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Writers that follow an ensure() covering them. */
  private u8(b: number): this {
    this.buf[this.pos++] = b;
    return this;
  }

  private u16(n: number): this {
    this.pos = this.buf.writeUInt16BE(n, this.pos);
    return this;
  }

  private u32(n: number): this {
    this.pos = this.buf.writeUInt32BE(n, this.pos);
    return this;
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (need > MAX_TERM_SIZE)
      throw new RangeError(`${this.where()}: the term encodes to more than ${MAX_TERM_SIZE} bytes (MAX_TERM_SIZE)`);
    const grown = Buffer.allocUnsafe(Math.min(MAX_TERM_SIZE, Math.max(need, this.buf.length * 2)));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  private where(): string {
    return formatPath(this.root, this.path);
  }

  private fail(what: string): never {
    throw new TypeError(`${this.where()}: ${what}`);
  }
}

/** Every element a byte: a plain loop, as every() skips a sparse array's
 * holes (which encode as `undefined`, as the value a hole reads as). */
function allBytes(v: readonly unknown[]): boolean {
  for (let i = 0; i < v.length; i++) if (!isByte(v[i])) return false;
  return true;
}

function isByte(x: unknown): boolean {
  return typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 0xff && !Object.is(x, -0);
}

function atomBytes(a: Atom): Buffer {
  let bytes = atomCache.get(a);
  if (bytes === undefined) {
    const utf8 = Buffer.from(a.name, "utf8");
    const n = utf8.length;
    const head = n <= 0xff ? [TAG.SMALL_ATOM_UTF8, n] : [TAG.ATOM_UTF8, n >> 8, n & 0xff];
    bytes = Buffer.concat([Buffer.from(head), utf8]);
    atomCache.set(a, bytes);
  }
  return bytes;
}

/** `value.user.tags[3]`, `value.get(atom("id"))`, `value.elements[1]`. */
function formatPath(root: string, path: readonly Step[]): string {
  let s = root;
  for (const step of path) {
    if (typeof step === "number") s += `[${step}]`;
    else if (typeof step === "string") s += IDENTIFIER.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
    else if ("mapKey" in step) s += `.keys()[${step.mapKey}]`;
    else s += `.get(${describeKey(step.mapValue)})`;
  }
  return s;
}

function describeKey(k: unknown): string {
  if (typeof k === "string") return JSON.stringify(k.length > 40 ? k.slice(0, 40) + "…" : k);
  if (typeof k === "number" || typeof k === "boolean" || k === null || k === undefined) return String(k);
  if (typeof k === "bigint") return `${k}n`;
  if (k instanceof Atom) return `atom(${JSON.stringify(k.name)})`;
  return "…";
}

function describe(v: object): string {
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? `an instance of ${name}` : "an object with a prototype";
}
