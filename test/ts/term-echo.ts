// The Node end of test/erlang/reactor_term_prop_tests: frames of 4-byte
// length + ETF on stdin; each is decoded with decodeTerm and encoded back with
// encodeTerm. Every answer is a frame of one byte, 0 then the term or 1 then
// the error's text. The first answer, unasked, is {limits, MAX_TERM_SIZE,
// MAX_TERM_DEPTH, MAX_BIG_BYTES}. A term {'$with_atom', Name, T} is answered
// with {T, Name as an atom, T}: an atom only Node has made, for the tests of
// reactor_term:decode/1's unknown_atom.

import { MAX_BIG_BYTES, MAX_TERM_DEPTH, MAX_TERM_SIZE, Tuple, atom, decodeTerm, encodeTerm, tuple, utf8 } from "../../ts/term";

const WITH_ATOM = atom("$with_atom");

function answer(frame: Buffer): Buffer {
  try {
    const term = decodeTerm(frame);
    if (term instanceof Tuple && term.elements[0] === WITH_ATOM) {
      const [, name, inner] = term.elements;
      return Buffer.concat([Buffer.of(0), encodeTerm(tuple(inner, atom(utf8(name as Buffer)), inner))]);
    }
    return Buffer.concat([Buffer.of(0), encodeTerm(term)]);
  } catch (e) {
    return Buffer.concat([Buffer.of(1), Buffer.from(`${(e as Error).name}: ${(e as Error).message}`)]);
  }
}

function send(payload: Buffer): void {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  process.stdout.write(Buffer.concat([head, payload]));
}

send(Buffer.concat([Buffer.of(0), encodeTerm(tuple(atom("limits"), MAX_TERM_SIZE, MAX_TERM_DEPTH, MAX_BIG_BYTES))]));

let pending: Buffer = Buffer.alloc(0);
process.stdin.on("data", (chunk: Buffer) => {
  pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
  while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
    const n = pending.readUInt32BE(0);
    send(answer(pending.subarray(4, 4 + n)));
    pending = pending.subarray(4 + n);
  }
});
process.stdin.on("end", () => process.exit(0));
