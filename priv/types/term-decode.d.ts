import { Term } from "./term-types";
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
export declare function decodeTerm(buf: Uint8Array, levels?: number): Term;
