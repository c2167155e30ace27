export { encodeTerm } from "./term-encode";
export { decodeTerm } from "./term-decode";
export { Atom, Bitstring, Float, ImproperList, MAX_ATOM_CHARS, Opaque, Pid, Port, Ref, Tuple, atom, float, tuple, utf8, } from "./term-types";
export type { Encodable, Term } from "./term-types";
export { MAX_BIG_BYTES, MAX_TERM_DEPTH, MAX_TERM_SIZE } from "./limits";
