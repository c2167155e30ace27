// The port's control frames (External Term Format, version 131) as plain
// JavaScript values, checked and decoded in one walk. The values have the
// shapes erlpack gives (the bridge's terms, with atoms and tuples of their own,
// are term-decode.ts's): atoms are strings (`true`, `false`, `nil`, `null`
// are the JavaScript values), binaries UTF-8 strings, tuples and lists
// arrays, maps objects. erlpack's own decoder is not used here: it builds
// every element through V8's API (~0.3 µs each, ~8 µs for a handoff frame,
// docs/performance.md) and does not read the UTF-8 atoms `term_to_binary`
// writes by default since OTP 26.
//
// Frames come from our own Erlang side, but nothing here trusts them: every
// count must fit in the bytes that remain before anything is built for it,
// nesting is bounded, and only the term types the port protocol uses are read.

import { isAscii } from "./term-decode";

const MAX_DEPTH = 32;
// Shorter ASCII strings are built in JavaScript: a Buffer.toString call costs more.
const SHORT_STRING = 32;

/** A frame that is not one well-formed term of the types the port protocol uses. */
export class EtfError extends Error {}

/**
 * The term in `buf`, as `term_to_binary/1` wrote it (minor version 1 or 2,
 * uncompressed).
 *
 * @returns numbers for integers (a SMALL_BIG past 32 bits is its decimal
 *   string, as erlpack gives it) and floats; strings for atoms (Latin-1 or
 *   UTF-8) and binaries (UTF-8, invalid sequences as U+FFFD); arrays of byte
 *   values for STRING_EXT; arrays for tuples and proper lists; objects for
 *   maps, keyed by the string of each key.
 * @throws EtfError for anything else: another version, a count past the end,
 *   trailing bytes, nesting deeper than 32, an improper list, a map key that is
 *   not an atom, a binary or a number, an integer of more than 8 bytes, a type
 *   the port protocol does not use (pids, references, funs, compressed terms).
 */
export function decodeControl(buf: Uint8Array): unknown {
  if (buf.length < 2 || buf[0] !== 131) throw new EtfError("not an external term (no version 131)");
  const r = new Reader(buf);
  const t = r.term(0);
  if (r.pos !== buf.length) throw new EtfError(`${buf.length - r.pos} trailing bytes after the term`);
  return t;
}

class Reader {
  pos = 1;
  constructor(private readonly buf: Uint8Array) {}

  term(depth: number): unknown {
    if (depth > MAX_DEPTH) throw new EtfError(`terms nested deeper than ${MAX_DEPTH}`);
    const buf = this.buf;
    const tag = this.u8();
    switch (tag) {
      case 97: // SMALL_INTEGER
        return this.u8();
      case 98: // INTEGER
        return this.u32() | 0;
      case 70: {
        // NEW_FLOAT
        this.need(8);
        const v = new DataView(buf.buffer, buf.byteOffset + this.pos, 8).getFloat64(0);
        this.pos += 8;
        return v;
      }
      case 100: // ATOM (Latin-1)
        return atom(this.text(this.u16(), false));
      case 115: // SMALL_ATOM (Latin-1)
        return atom(this.text(this.u8(), false));
      case 118: // ATOM_UTF8
        return atom(this.text(this.u16(), true));
      case 119: // SMALL_ATOM_UTF8
        return atom(this.text(this.u8(), true));
      case 109: // BINARY
        return this.text(this.u32(), true);
      case 107: {
        // STRING: a list of bytes
        const n = this.u16();
        this.need(n);
        return Array.from(buf.subarray(this.pos, (this.pos += n)));
      }
      case 110: // SMALL_BIG
        return this.big(this.u8());
      case 106: // NIL
        return [];
      case 104: // SMALL_TUPLE
        return this.elements(this.u8(), depth);
      case 105: // LARGE_TUPLE
        return this.elements(this.u32(), depth);
      case 108: {
        // LIST: elements, then a tail that must be NIL
        const list = this.elements(this.u32(), depth);
        if (this.u8() !== 106) throw new EtfError(`improper list (tail at byte ${this.pos - 1})`);
        return list;
      }
      case 116: // MAP
        return this.map(this.u32(), depth);
      default:
        throw new EtfError(`term type ${tag} at byte ${this.pos - 1} is not used by the port protocol`);
    }
  }

  private elements(n: number, depth: number): unknown[] {
    // Every element takes at least one byte: a count that cannot fit is a lie.
    if (n > this.buf.length - this.pos) throw new EtfError(`a count of ${n} exceeds the frame`);
    const a = new Array(n);
    for (let i = 0; i < n; i++) a[i] = this.term(depth + 1);
    return a;
  }

  private map(n: number, depth: number): Record<string, unknown> {
    if (2 * n > this.buf.length - this.pos) throw new EtfError(`a map of ${n} pairs exceeds the frame`);
    const m: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const k = this.term(depth + 1);
      const key = typeof k === "string" ? k : keyOf(k, at);
      const v = this.term(depth + 1);
      // an own property, never the prototype's setter
      if (key === "__proto__") Object.defineProperty(m, key, { value: v, enumerable: true, writable: true, configurable: true });
      else m[key] = v;
    }
    return m;
  }

  /** A SMALL_BIG's sign and digits: a number within 32 bits, else its decimal string. */
  private big(n: number): number | string {
    if (n > 8) throw new EtfError("integer too large");
    const negative = this.u8();
    this.need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.buf[this.pos + i]);
    this.pos += n;
    if (v <= 0xffffffffn && (!negative || v <= 0x7fffffffn)) return negative ? -Number(v) : Number(v);
    return (negative ? -v : v).toString();
  }

  /** `n` bytes as a string: UTF-8, or Latin-1 (`utf8` false). */
  private text(n: number, utf8: boolean): string {
    this.need(n);
    const buf = this.buf;
    const from = this.pos;
    const to = (this.pos += n);
    if (n <= SHORT_STRING && isAscii(buf, from, to)) {
      let s = "";
      for (let i = from; i < to; i++) s += String.fromCharCode(buf[i]);
      return s;
    }
    return Buffer.from(buf.buffer, buf.byteOffset + from, n).toString(utf8 ? "utf8" : "latin1");
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new EtfError(`term truncated at byte ${this.pos}`);
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  private u16(): number {
    this.need(2);
    const b = this.buf;
    const v = (b[this.pos] << 8) | b[this.pos + 1];
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }
}

/** A map key that is not a string: the string of an atom's or a number's value. */
function keyOf(k: unknown, at: number): string {
  if (typeof k !== "number" && typeof k !== "boolean" && k !== null)
    throw new EtfError(`a map key at byte ${at} that is not an atom, a binary or a number`);
  return String(k);
}

/** An atom's value, as erlpack gives it. */
function atom(name: string): string | boolean | null {
  switch (name) {
    case "true":
      return true;
    case "false":
      return false;
    case "nil":
    case "null":
      return null;
    default:
      return name;
  }
}
