// The JavaScript shapes of Erlang terms that JavaScript has no value for:
// atoms, tuples, integral floats, improper lists, bitstrings, and the opaque
// pids, references and ports. docs/bridge.md has the whole table both ways;
// ts/term-encode.ts and ts/term-decode.ts are the codec.

/**
 * An Erlang atom. Atoms are interned by name: `atom("ok") === atom("ok")`, so
 * they compare with `===` and work as `Map` keys.
 *
 * Four atoms have JavaScript values of their own and never decode to an Atom:
 * `true`, `false` (booleans), `undefined` (`undefined`) and `nil` (`null`).
 * An Atom of one of those names still encodes as that atom.
 */
export class Atom {
  private static readonly table = new Map<string, Atom>();

  private constructor(
    /** The atom's name, at most 255 characters (Erlang's limit). */
    readonly name: string,
  ) {}

  /**
   * The atom named `name`.
   * @throws RangeError when `name` is longer than 255 characters (code points).
   * @throws TypeError when `name` is not a string or not well-formed UTF-16.
   */
  static of(name: string): Atom {
    let a = Atom.table.get(name);
    if (a === undefined) {
      if (typeof name !== "string") throw new TypeError("an atom's name is a string");
      if (!wellFormed(name)) throw new TypeError("an atom's name has a lone surrogate");
      if (codePoints(name) > MAX_ATOM_CHARS)
        throw new RangeError(`an atom's name is at most ${MAX_ATOM_CHARS} characters`);
      a = new Atom(name);
      Atom.table.set(name, a);
    }
    return a;
  }

  /** The name, as Erlang's `atom_to_list/1` gives it. */
  toString(): string {
    return this.name;
  }
}

/** Erlang's limit on an atom's length, in characters. */
export const MAX_ATOM_CHARS = 255;

/** The atom named `name` (see {@link Atom.of}). */
export function atom(name: string): Atom {
  return Atom.of(name);
}

/** An Erlang tuple: `{a, b}` is `tuple(a, b)`, its elements in order. */
export class Tuple<T = Term> {
  constructor(
    /** The elements, first to last (Erlang's element 1 is `elements[0]`). */
    readonly elements: readonly T[],
  ) {}

  /** The number of elements (Erlang's `tuple_size/1`). */
  get size(): number {
    return this.elements.length;
  }

  /** `{a, b}`, its elements as String() gives them (a log line, a template string). */
  toString(): string {
    return `{${this.elements.map((e) => (Array.isArray(e) ? `[${e.map(String).join(", ")}]` : String(e))).join(", ")}}`;
  }
}

/** The tuple of `elements`. */
export function tuple<T extends unknown[]>(...elements: T): Tuple<T[number]> {
  return new Tuple<T[number]>(elements);
}

/**
 * An Erlang float whose value is an integer: `1.0`, `-3.0`, `1.0e15`.
 *
 * A JavaScript number cannot say whether it is an integer or a float, and
 * Erlang tells them apart (`1 =:= 1.0` is false). Numbers that are safe
 * integers (but -0) encode as integers; every other finite number, and every
 * Float, encodes as a float. So decoding gives a plain number for a float
 * whose value is not a safe integer (`1.5`, `1.0e300`), and a Float for the
 * rest (`1.0`, `-3.0`, `-0.0`), which then encodes back as the same float.
 * Arithmetic, comparison with `<`, template strings and JSON see its number
 * (`valueOf`, `toString`, `toJSON`); `+x` or `Number(x)` gives it.
 */
export class Float {
  /**
   * @param value any finite number.
   * @throws TypeError when `value` is NaN or infinite (Erlang floats are finite).
   */
  constructor(readonly value: number) {
    if (typeof value !== "number" || !Number.isFinite(value))
      throw new TypeError(`a float is a finite number, not ${String(value)}`);
  }

  /** The number, for arithmetic and comparisons. */
  valueOf(): number {
    return this.value;
  }

  /** The number as `String(number)` writes it (`"2"`, not `"2.0"`). */
  toString(): string {
    return String(this.value);
  }

  /** The number, for `JSON.stringify`. */
  toJSON(): number {
    return this.value;
  }
}

/** `x` as an Erlang float, whatever its value (`float(1)` encodes as `1.0`). */
export function float(x: number): Float {
  return new Float(x);
}

/**
 * A list whose tail is not a list: Erlang's `[a, b | c]` is
 * `new ImproperList([a, b], c)`.
 */
export class ImproperList<T = Term> {
  /**
   * @param elements the elements before the tail, at least one.
   * @param tail anything but a list.
   * @throws TypeError when `elements` is empty or `tail` is a list (the result
   *   would be the tail itself, or a proper or longer improper list: one
   *   Erlang term has one JavaScript shape).
   */
  constructor(
    readonly elements: readonly T[],
    readonly tail: T,
  ) {
    if (elements.length === 0) throw new TypeError("an improper list has at least one element before its tail");
    if (Array.isArray(tail) || tail instanceof ImproperList)
      throw new TypeError("an improper list's tail is not a list");
  }
}

/**
 * A bitstring whose length is not a whole number of bytes: `<<7:3>>` is
 * `new Bitstring(Buffer.from([0b11100000]), 3)`. Whole binaries are Buffers.
 */
export class Bitstring {
  /** The bits, first bit in the top bit of `bytes[0]`; the unused low bits of the last byte are 0. */
  readonly bytes: Buffer;
  /** How many bits of the last byte belong to the bitstring, 1 to 7. */
  readonly bits: number;

  /**
   * @param bytes the bits, first bit in the top bit of `bytes[0]`; at least one byte.
   * @param bits how many bits of the last byte belong to the bitstring, 1 to 7
   *   (the top ones; the others are cleared).
   * @throws RangeError when `bits` is not 1 to 7 or `bytes` is empty.
   */
  constructor(bytes: Uint8Array, bits: number) {
    if (!Number.isInteger(bits) || bits < 1 || bits > 7) throw new RangeError("a bitstring's last byte has 1 to 7 bits");
    if (bytes.length === 0) throw new RangeError("a bitstring has at least one byte");
    this.bytes = Buffer.from(bytes);
    this.bytes[this.bytes.length - 1] &= (0xff << (8 - bits)) & 0xff;
    this.bits = bits;
  }

  /** The length in bits (Erlang's `bit_size/1`). */
  get bitSize(): number {
    return (this.bytes.length - 1) * 8 + this.bits;
  }
}

/**
 * What pids, references and ports have in common: they are opaque. JavaScript
 * can hold them, compare them and send them back, never make one. Each keeps
 * the exact bytes Erlang sent (node name, creation and all), so what comes
 * back is the same pid, reference or port (`=:=`).
 */
export abstract class Opaque {
  /** @internal Made by decodeTerm, never by hand. */
  constructor(
    /** The term's External Term Format encoding: tag and body, no version byte. */
    readonly bytes: Buffer,
    /** The node it belongs to. */
    readonly node: Atom,
    /** The incarnation of that node it belongs to. */
    readonly creation: number,
  ) {}

  /** Whether `other` is the same pid, reference or port (Erlang's `=:=`). */
  equals(other: unknown): boolean {
    return other instanceof Opaque && other.constructor === this.constructor && other.bytes.equals(this.bytes);
  }
}

/** An Erlang process identifier (opaque; see {@link Opaque}). */
export class Pid extends Opaque {
  /** @internal Made by decodeTerm, never by hand. */
  constructor(
    bytes: Buffer,
    node: Atom,
    creation: number,
    readonly id: number,
    readonly serial: number,
  ) {
    super(bytes, node, creation);
  }

  /** As Erlang prints a pid, with the node's name first: `<node@host.83.0>`. */
  toString(): string {
    return `<${this.node.name}.${this.id}.${this.serial}>`;
  }
}

/** An Erlang reference (opaque; see {@link Opaque}). */
export class Ref extends Opaque {
  /** @internal Made by decodeTerm, never by hand. */
  constructor(
    bytes: Buffer,
    node: Atom,
    creation: number,
    /** The reference's 32-bit words, as encoded. */
    readonly ids: readonly number[],
  ) {
    super(bytes, node, creation);
  }

  /** As Erlang prints a reference, with the node's name: `#Ref<node@host.3.2.1>`. */
  toString(): string {
    return `#Ref<${this.node.name}.${[...this.ids].reverse().join(".")}>`;
  }
}

/** An Erlang port identifier (opaque; see {@link Opaque}). */
export class Port extends Opaque {
  /** @internal Made by decodeTerm, never by hand. */
  constructor(
    bytes: Buffer,
    node: Atom,
    creation: number,
    /** The port's number (64 bits since OTP 24). */
    readonly id: bigint,
  ) {
    super(bytes, node, creation);
  }

  /** As Erlang prints a port, with the node's name: `#Port<node@host.5>`. */
  toString(): string {
    return `#Port<${this.node.name}.${this.id}>`;
  }
}

/**
 * A term as `decodeTerm` gives it. Integers are numbers when they are safe
 * integers and bigints beyond; binaries are Buffers; maps are Maps.
 */
export type Term =
  | number
  | bigint
  | Float
  | boolean
  | null
  | undefined
  | Atom
  | Buffer
  | Bitstring
  | Term[]
  | ImproperList<Term>
  | Tuple<Term>
  | Map<Term, Term>
  | Pid
  | Ref
  | Port;

/**
 * What `encodeTerm` takes: every {@link Term}, and also strings (UTF-8
 * binaries), any Uint8Array (a binary) and plain objects (maps with binary
 * keys), nested in any of these.
 */
export type Encodable =
  | Exclude<Term, Term[] | Tuple<Term> | ImproperList<Term> | Map<Term, Term>>
  | string
  | Uint8Array
  | readonly Encodable[]
  | Tuple<Encodable>
  | ImproperList<Encodable>
  | ReadonlyMap<Encodable, Encodable>
  | { readonly [key: string]: Encodable };

/**
 * The text of a binary that holds UTF-8, checked: unlike `buf.toString()`,
 * a byte sequence that is not UTF-8 is an error, not a U+FFFD.
 * @throws TypeError when `binary` is not well-formed UTF-8.
 */
export function utf8(binary: Uint8Array): string {
  try {
    return strictUtf8.decode(binary);
  } catch {
    throw new TypeError("the binary is not UTF-8");
  }
}

/** @internal Strict: a malformed sequence throws; a BOM is kept as a character. */
export const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** @internal Whether `s` has no lone surrogate, so that its UTF-8 is exact. */
export function wellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

/** @internal The External Term Format's tags (erts/doc: External Term Format). */
export const TAG = {
  VERSION: 131,
  COMPRESSED: 80,
  NEW_FLOAT: 70,
  BIT_BINARY: 77,
  ATOM_CACHE_REF: 82,
  LOCAL: 121,
  NEW_PID: 88,
  NEW_PORT: 89,
  NEWER_REFERENCE: 90,
  SMALL_INTEGER: 97,
  INTEGER: 98,
  FLOAT: 99,
  ATOM: 100,
  REFERENCE: 101,
  PORT: 102,
  PID: 103,
  SMALL_TUPLE: 104,
  LARGE_TUPLE: 105,
  NIL: 106,
  STRING: 107,
  LIST: 108,
  BINARY: 109,
  SMALL_BIG: 110,
  LARGE_BIG: 111,
  NEW_FUN: 112,
  EXPORT: 113,
  NEW_REFERENCE: 114,
  SMALL_ATOM: 115,
  MAP: 116,
  FUN: 117,
  ATOM_UTF8: 118,
  SMALL_ATOM_UTF8: 119,
  V4_PORT: 120,
} as const;
