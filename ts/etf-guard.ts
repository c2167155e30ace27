// A structural check of an ETF frame before erlpack sees it. erlpack 0.1.4 trusts
// lengths (a list header claiming 2^29 elements aborts V8) and prints its errors
// with printf. Frames come from our own Erlang side, but a decoder that can kill
// the process on a bad byte is not one we run unguarded: every count must fit in
// the bytes that remain, nesting is bounded, and only the term types the port
// protocol uses are let through.

const MAX_DEPTH = 32;

export class EtfError extends Error {}

export function checkEtf(buf: Uint8Array): void {
  if (buf.length < 2 || buf[0] !== 131) throw new EtfError("not an external term (no version 131)");
  const end = term(buf, 1, 0);
  if (end !== buf.length) throw new EtfError(`${buf.length - end} trailing bytes after the term`);
}

function need(buf: Uint8Array, at: number, n: number): void {
  if (at + n > buf.length) throw new EtfError(`term truncated at byte ${at}`);
}

function u16(buf: Uint8Array, at: number): number {
  need(buf, at, 2);
  return (buf[at] << 8) | buf[at + 1];
}

function u32(buf: Uint8Array, at: number): number {
  need(buf, at, 4);
  return ((buf[at] << 24) >>> 0) + ((buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]);
}

/** Checks the term at `at`; returns the offset just past it. */
function term(buf: Uint8Array, at: number, depth: number): number {
  if (depth > MAX_DEPTH) throw new EtfError(`terms nested deeper than ${MAX_DEPTH}`);
  need(buf, at, 1);
  const tag = buf[at++];
  switch (tag) {
    case 97: // SMALL_INTEGER
      need(buf, at, 1);
      return at + 1;
    case 98: // INTEGER
      need(buf, at, 4);
      return at + 4;
    case 70: // NEW_FLOAT
      need(buf, at, 8);
      return at + 8;
    case 100: // ATOM
    case 118: // ATOM_UTF8
    case 107: {
      // STRING (a list of bytes)
      const n = u16(buf, at);
      need(buf, at + 2, n);
      return at + 2 + n;
    }
    case 115: // SMALL_ATOM
    case 119: {
      // SMALL_ATOM_UTF8
      need(buf, at, 1);
      const n = buf[at];
      need(buf, at + 1, n);
      return at + 1 + n;
    }
    case 109: {
      // BINARY
      const n = u32(buf, at);
      need(buf, at + 4, n);
      return at + 4 + n;
    }
    case 110: {
      // SMALL_BIG: erlpack decodes at most 8 digits
      need(buf, at, 2);
      const n = buf[at];
      if (n > 8) throw new EtfError("integer too large");
      need(buf, at + 2, n);
      return at + 2 + n;
    }
    case 106: // NIL
      return at;
    case 104: {
      // SMALL_TUPLE
      need(buf, at, 1);
      return elements(buf, at + 1, buf[at], depth);
    }
    case 105: // LARGE_TUPLE
      return elements(buf, at + 4, u32(buf, at), depth);
    case 108: {
      // LIST: elements, then a tail that must be NIL (no improper lists)
      const next = elements(buf, at + 4, u32(buf, at), depth);
      need(buf, next, 1);
      if (buf[next] !== 106) throw new EtfError("improper list");
      return next + 1;
    }
    case 116: // MAP
      return elements(buf, at + 4, 2 * u32(buf, at), depth);
    default:
      throw new EtfError(`term type ${tag} is not used by the port protocol`);
  }
}

function elements(buf: Uint8Array, at: number, n: number, depth: number): number {
  // Every element takes at least one byte: a count that cannot fit is a lie.
  if (n > buf.length - at) throw new EtfError(`a count of ${n} exceeds the frame`);
  for (let i = 0; i < n; i++) at = term(buf, at, depth + 1);
  return at;
}
