// The External Term Format (version 131) to JavaScript values, as
// docs/bridge.md tables them. Every count is checked against the bytes that
// remain before anything is allocated for it, nesting is bounded, and each
// step consumes input: malformed bytes give an error, never a crash or a hang.

import { inflateSync } from "node:zlib";
import { MAX_BIG_BYTES, MAX_TERM_DEPTH, MAX_TERM_SIZE } from "./limits";
import { Atom, Bitstring, Float, ImproperList, Pid, Port, Ref, TAG, Term, Tuple, strictUtf8 } from "./term-types";

/**
 * The term encoded in `buf`: what Erlang's `term_to_binary/1` wrote, version
 * byte first (compressed or not).
 *
 * @param levels the levels of a message around the values it holds (a bridge
 *   frame's tuple, a call's argument list), not counted against MAX_TERM_DEPTH.
 * @returns a fresh value: binaries are copies, nothing refers to `buf`.
 * @throws SyntaxError when `buf` is not one well-formed term (a bad tag, a
 *   count past the end, trailing bytes...), naming the byte offset.
 * @throws RangeError when `buf` (or, compressed, the term inside) is larger
 *   than MAX_TERM_SIZE, nests deeper than MAX_TERM_DEPTH, or holds an
 *   integer of more than MAX_BIG_BYTES bytes.
 * @throws TypeError for a fun, or a LOCAL_EXT term: they do not cross the bridge.
 */
export function decodeTerm(buf: Uint8Array, levels = 0): Term {
  if (!(buf instanceof Uint8Array)) throw new TypeError("decodeTerm takes a Buffer or a Uint8Array");
  if (buf.length > MAX_TERM_SIZE)
    throw new RangeError(`a term of ${buf.length} bytes is larger than ${MAX_TERM_SIZE} (MAX_TERM_SIZE)`);
  if (buf.length < 2 || buf[0] !== TAG.VERSION)
    throw new SyntaxError("not an External Term Format term: it does not start with version 131");
  let bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  let at = 1;
  if (bytes[1] === TAG.COMPRESSED) {
    bytes = inflate(bytes);
    at = 0;
  }
  const d = new Decoder(bytes, at, MAX_TERM_DEPTH + levels);
  const term = d.term(0);
  d.end();
  return term;
}

/** The term inside a COMPRESSED term: 4 bytes of its size, then zlib. */
function inflate(buf: Buffer): Buffer {
  if (buf.length < 6) throw new SyntaxError("malformed term at byte 2: a compressed term without its size");
  const size = buf.readUInt32BE(2);
  if (size >= MAX_TERM_SIZE)
    throw new RangeError(`a compressed term of ${size} bytes is larger than ${MAX_TERM_SIZE} (MAX_TERM_SIZE)`);
  let out: Buffer;
  try {
    out = inflateSync(buf.subarray(6), { maxOutputLength: Math.max(size, 1) });
  } catch (e) {
    throw new SyntaxError(`malformed term at byte 6: the compressed data does not inflate (${(e as Error).message})`);
  }
  if (out.length !== size)
    throw new SyntaxError(`malformed term at byte 2: the compressed term is ${out.length} bytes, not ${size}`);
  return out;
}

const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const FLOAT_TEXT = /^\s*[-+]?\d+(\.\d*)?(e[-+]?\d+)?$/i;

class Decoder {
  constructor(
    private readonly buf: Buffer,
    private pos: number,
    private readonly maxDepth: number,
  ) {}

  end(): void {
    if (this.pos !== this.buf.length) this.malformed(`${this.buf.length - this.pos} bytes after the term`);
  }

  term(depth: number): Term {
    const start = this.pos;
    const tag = this.u8();
    switch (tag) {
      case TAG.SMALL_INTEGER:
        return this.u8();
      case TAG.INTEGER:
        this.need(4);
        return this.buf.readInt32BE((this.pos += 4) - 4);
      case TAG.SMALL_BIG:
        return this.big(this.u8());
      case TAG.LARGE_BIG: {
        const n = this.u32();
        if (n > MAX_BIG_BYTES)
          throw new RangeError(`an integer of ${n} bytes is past Erlang's ${MAX_BIG_BYTES} (MAX_BIG_BYTES)`);
        return this.big(n);
      }
      case TAG.NEW_FLOAT:
        this.need(8);
        return this.float(this.buf.readDoubleBE((this.pos += 8) - 8), start);
      case TAG.FLOAT: {
        this.need(31);
        const text = this.buf.toString("latin1", this.pos, this.pos + 31).replace(/\0+$/, "");
        this.pos += 31;
        if (!FLOAT_TEXT.test(text)) this.malformed("a FLOAT_EXT that is not a number", start);
        return this.float(Number(text), start);
      }
      case TAG.ATOM:
      case TAG.SMALL_ATOM:
      case TAG.ATOM_UTF8:
      case TAG.SMALL_ATOM_UTF8:
        return this.atomTerm(this.atomName(tag, start), start);
      case TAG.NIL:
        this.enter(depth);
        return [];
      case TAG.STRING: {
        this.enter(depth);
        const n = this.u16();
        this.need(n);
        return Array.from(this.buf.subarray(this.pos, (this.pos += n)));
      }
      case TAG.LIST:
        this.enter(depth);
        return this.list(depth + 1);
      case TAG.SMALL_TUPLE:
      case TAG.LARGE_TUPLE: {
        this.enter(depth);
        const n = tag === TAG.SMALL_TUPLE ? this.u8() : this.u32();
        this.need(n);
        const elements: Term[] = [];
        for (let i = 0; i < n; i++) elements.push(this.term(depth + 1));
        return new Tuple(elements);
      }
      case TAG.MAP: {
        this.enter(depth);
        const n = this.u32();
        this.need(2 * n);
        const map = new Map<Term, Term>();
        for (let i = 0; i < n; i++) {
          const key = this.term(depth + 1);
          map.set(key, this.term(depth + 1));
        }
        return map;
      }
      case TAG.BINARY: {
        const n = this.u32();
        this.need(n);
        const b = Buffer.allocUnsafe(n);
        this.buf.copy(b, 0, this.pos, (this.pos += n));
        return b;
      }
      case TAG.BIT_BINARY:
        return this.bitBinary(start);
      case TAG.PID:
      case TAG.NEW_PID:
      case TAG.PORT:
      case TAG.NEW_PORT:
      case TAG.V4_PORT:
      case TAG.REFERENCE:
      case TAG.NEW_REFERENCE:
      case TAG.NEWER_REFERENCE:
        return this.opaque(tag, start);
      case TAG.NEW_FUN:
      case TAG.EXPORT:
      case TAG.FUN:
        throw new TypeError(`a fun at byte ${start}: funs do not cross the bridge (send {Module, Function, Args})`);
      case TAG.LOCAL:
        throw new TypeError(`a LOCAL_EXT term at byte ${start}: only the node that made it can read it`);
      case TAG.ATOM_CACHE_REF:
        return this.malformed("an atom cache reference, which only the distribution protocol has", start);
      default:
        return this.malformed(`unknown tag ${tag}`, start);
    }
  }

  /** LIST_EXT after its tag: the count, the elements, the tail. */
  private list(depth: number): Term {
    const n = this.u32();
    this.need(n + 1);
    const elements: Term[] = [];
    for (let i = 0; i < n; i++) elements.push(this.term(depth));
    if (this.buf[this.pos] === TAG.NIL) {
      this.pos++;
      return elements;
    }
    // Erlang writes a non-list tail only; another list as tail is the same list, one level up.
    const tailTag = this.buf[this.pos];
    const tail = this.term(tailTag === TAG.LIST || tailTag === TAG.STRING ? depth - 1 : depth);
    if (elements.length === 0) return tail;
    if (Array.isArray(tail)) return elements.concat(tail);
    if (tail instanceof ImproperList) return new ImproperList(elements.concat(tail.elements), tail.tail);
    return new ImproperList(elements, tail);
  }

  private big(n: number): number | bigint {
    const negative = this.u8();
    if (negative > 1) this.malformed(`an integer with sign byte ${negative}`, this.pos - 1);
    this.need(n);
    const digits = this.buf.subarray(this.pos, (this.pos += n));
    if (n <= 6) {
      let x = 0;
      for (let i = n - 1; i >= 0; i--) x = x * 256 + digits[i];
      return negative && x !== 0 ? -x : x;
    }
    const magnitude = BigInt("0x" + Buffer.from(digits).reverse().toString("hex"));
    const v = negative ? -magnitude : magnitude;
    return v >= SAFE_MIN && v <= SAFE_MAX ? Number(v) : v;
  }

  /**
   * A float whose value is a safe integer would encode back as an integer: it
   * stays a Float (see Float). -0.0 is one too: as a Map key, a number -0 would
   * become 0 and meet the integer 0.
   */
  private float(f: number, start: number): number | Float {
    if (!Number.isFinite(f)) this.malformed("a float that is not finite", start);
    return Number.isSafeInteger(f) ? new Float(f) : f;
  }

  private bitBinary(start: number): Buffer | Bitstring {
    const n = this.u32();
    const bits = this.u8();
    this.need(n);
    const bytes = Buffer.from(this.buf.subarray(this.pos, (this.pos += n)));
    if (bits === 8 || (n === 0 && bits === 0)) return bytes;
    if (n === 0 || bits === 0 || bits > 8) this.malformed(`a bitstring of ${n} bytes with ${bits} bits in the last`, start);
    return new Bitstring(bytes, bits);
  }

  private opaque(tag: number, start: number): Pid | Port | Ref {
    let words = 0;
    if (tag === TAG.NEW_REFERENCE || tag === TAG.NEWER_REFERENCE) {
      words = this.u16();
      // Erlang's references have up to 5 words (ERTS_MAX_REF_NUMBERS).
      if (words < 1 || words > 5) this.malformed(`a reference of ${words} words`, start);
    }
    const atomStart = this.pos;
    const atomTag = this.u8();
    if (atomTag !== TAG.ATOM && atomTag !== TAG.SMALL_ATOM && atomTag !== TAG.ATOM_UTF8 && atomTag !== TAG.SMALL_ATOM_UTF8)
      this.malformed("a pid, port or reference whose node is not an atom", atomStart);
    const node = this.atom(this.atomName(atomTag, atomStart), atomStart);
    const bytes = () => Buffer.from(this.buf.subarray(start, this.pos));
    switch (tag) {
      case TAG.PID:
      case TAG.NEW_PID: {
        const id = this.u32();
        const serial = this.u32();
        const creation = tag === TAG.PID ? this.u8() : this.u32();
        return new Pid(bytes(), node, creation, id, serial);
      }
      case TAG.PORT:
      case TAG.NEW_PORT:
      case TAG.V4_PORT: {
        let id: bigint;
        if (tag === TAG.V4_PORT) {
          this.need(8);
          id = this.buf.readBigUInt64BE((this.pos += 8) - 8);
        } else id = BigInt(this.u32());
        const creation = tag === TAG.PORT ? this.u8() : this.u32();
        return new Port(bytes(), node, creation, id);
      }
      case TAG.REFERENCE: {
        const id = this.u32();
        const creation = this.u8();
        return new Ref(bytes(), node, creation, [id]);
      }
      default: {
        const creation = tag === TAG.NEW_REFERENCE ? this.u8() : this.u32();
        const ids: number[] = [];
        for (let i = 0; i < words; i++) ids.push(this.u32());
        return new Ref(bytes(), node, creation, ids);
      }
    }
  }

  /** The name of the atom whose tag was just read. */
  private atomName(tag: number, start: number): string {
    const n = tag === TAG.ATOM || tag === TAG.ATOM_UTF8 ? this.u16() : this.u8();
    this.need(n);
    const from = this.pos;
    this.pos += n;
    // Latin-1 and ASCII names (nearly all) read without a TextDecoder.
    if (tag === TAG.ATOM || tag === TAG.SMALL_ATOM || isAscii(this.buf, from, this.pos)) return this.buf.toString("latin1", from, this.pos);
    const raw = this.buf.subarray(from, this.pos);
    try {
      return strictUtf8.decode(raw);
    } catch {
      return this.malformed("an atom whose name is not UTF-8", start);
    }
  }

  /** Four atoms have JavaScript values of their own (docs/bridge.md). */
  private atomTerm(name: string, start: number): Term {
    switch (name) {
      case "true":
        return true;
      case "false":
        return false;
      case "undefined":
        return undefined;
      case "nil":
        return null;
      default:
        return this.atom(name, start);
    }
  }

  private atom(name: string, start: number): Atom {
    try {
      return Atom.of(name);
    } catch (e) {
      return this.malformed((e as Error).message, start);
    }
  }

  private enter(depth: number): void {
    if (depth >= this.maxDepth)
      throw new RangeError(`the term nests deeper than ${MAX_TERM_DEPTH} levels (MAX_TERM_DEPTH)`);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) this.malformed(`${n} bytes needed, ${this.buf.length - this.pos} left`);
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  private u16(): number {
    this.need(2);
    return this.buf.readUInt16BE((this.pos += 2) - 2);
  }

  private u32(): number {
    this.need(4);
    return this.buf.readUInt32BE((this.pos += 4) - 4);
  }

  private malformed(what: string, at = this.pos): never {
    throw new SyntaxError(`malformed term at byte ${at}: ${what}`);
  }
}

/** @internal Bytes from..to of `b` are ASCII: they read the same as Latin-1 and UTF-8. */
export function isAscii(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] > 0x7f) return false;
  return true;
}
