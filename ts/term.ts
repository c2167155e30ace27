// Erlang terms in TypeScript, without JSON: the External Term Format codec of
// the bridge between a context's Node process and Erlang. docs/bridge.md has
// the table of what maps to what, both ways, and why.
//
//   encodeTerm(tuple(atom("ok"), "text", 42n))  ->  <<131, ...>>  -> {ok, <<"text">>, 42}
//   decodeTerm(<<131, ...>>)                    ->  Tuple [Atom ok, Buffer, 42]

export { encodeTerm } from "./term-encode";
export { decodeTerm } from "./term-decode";
export {
  Atom,
  Bitstring,
  Float,
  ImproperList,
  MAX_ATOM_CHARS,
  Opaque,
  Pid,
  Port,
  Ref,
  Tuple,
  atom,
  float,
  tuple,
  utf8,
} from "./term-types";
export type { Encodable, Term } from "./term-types";
export { MAX_BIG_BYTES, MAX_TERM_DEPTH, MAX_TERM_SIZE } from "./limits";
