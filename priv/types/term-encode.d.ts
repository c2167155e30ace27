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
export declare function encodeTerm(value: unknown, name?: string): Buffer;
/**
 * `head` (bytes written as they are), then the External Term Format of a
 * tuple of `elements`, version byte first, in one pass: a bridge frame
 * (bridge.ts frameOf). `names[i]` names element i in an error instead of
 * `value` (`args[0].user: cannot encode a function`).
 * @throws as encodeTerm; MAX_TERM_SIZE bounds the whole result.
 */
export declare function encodeTuple(head: readonly number[], elements: readonly unknown[], names?: readonly string[]): Buffer;
