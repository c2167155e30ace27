/**
 * An Erlang atom. Atoms are interned by name: `atom("ok") === atom("ok")`, so
 * they compare with `===` and work as `Map` keys.
 *
 * Four atoms have JavaScript values of their own and never decode to an Atom:
 * `true`, `false` (booleans), `undefined` (`undefined`) and `nil` (`null`).
 * An Atom of one of those names still encodes as that atom.
 */
export declare class Atom {
    /** The atom's name, at most 255 characters (Erlang's limit). */
    readonly name: string;
    private static readonly table;
    private constructor();
    /**
     * The atom named `name`.
     * @throws RangeError when `name` is longer than 255 characters (code points).
     * @throws TypeError when `name` is not a string or not well-formed UTF-16.
     */
    static of(name: string): Atom;
    /** The name, as Erlang's `atom_to_list/1` gives it. */
    toString(): string;
}
/** Erlang's limit on an atom's length, in characters. */
export declare const MAX_ATOM_CHARS = 255;
/** The atom named `name` (see {@link Atom.of}). */
export declare function atom(name: string): Atom;
/** An Erlang tuple: `{a, b}` is `tuple(a, b)`, its elements in order. */
export declare class Tuple<T = Term> {
    /** The elements, first to last (Erlang's element 1 is `elements[0]`). */
    readonly elements: readonly T[];
    constructor(
    /** The elements, first to last (Erlang's element 1 is `elements[0]`). */
    elements: readonly T[]);
    /** The number of elements (Erlang's `tuple_size/1`). */
    get size(): number;
    /** `{a, b}`, its elements as String() gives them (a log line, a template string). */
    toString(): string;
}
/** The tuple of `elements`. */
export declare function tuple<T extends unknown[]>(...elements: T): Tuple<T[number]>;
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
export declare class Float {
    readonly value: number;
    /**
     * @param value any finite number.
     * @throws TypeError when `value` is NaN or infinite (Erlang floats are finite).
     */
    constructor(value: number);
    /** The number, for arithmetic and comparisons. */
    valueOf(): number;
    /** The number as `String(number)` writes it (`"2"`, not `"2.0"`). */
    toString(): string;
    /** The number, for `JSON.stringify`. */
    toJSON(): number;
}
/** `x` as an Erlang float, whatever its value (`float(1)` encodes as `1.0`). */
export declare function float(x: number): Float;
/**
 * A list whose tail is not a list: Erlang's `[a, b | c]` is
 * `new ImproperList([a, b], c)`.
 */
export declare class ImproperList<T = Term> {
    readonly elements: readonly T[];
    readonly tail: T;
    /**
     * @param elements the elements before the tail, at least one.
     * @param tail anything but a list.
     * @throws TypeError when `elements` is empty or `tail` is a list (the result
     *   would be the tail itself, or a proper or longer improper list: one
     *   Erlang term has one JavaScript shape).
     */
    constructor(elements: readonly T[], tail: T);
}
/**
 * A bitstring whose length is not a whole number of bytes: `<<7:3>>` is
 * `new Bitstring(Buffer.from([0b11100000]), 3)`. Whole binaries are Buffers.
 */
export declare class Bitstring {
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
    constructor(bytes: Uint8Array, bits: number);
    /** The length in bits (Erlang's `bit_size/1`). */
    get bitSize(): number;
}
/**
 * What pids, references and ports have in common: they are opaque. JavaScript
 * can hold them, compare them and send them back, never make one. Each keeps
 * the exact bytes Erlang sent (node name, creation and all), so what comes
 * back is the same pid, reference or port (`=:=`).
 */
export declare abstract class Opaque {
    /** The term's External Term Format encoding: tag and body, no version byte. */
    readonly bytes: Buffer;
    /** The node it belongs to. */
    readonly node: Atom;
    /** The incarnation of that node it belongs to. */
    readonly creation: number;
    /** Whether `other` is the same pid, reference or port (Erlang's `=:=`). */
    equals(other: unknown): boolean;
}
/** An Erlang process identifier (opaque; see {@link Opaque}). */
export declare class Pid extends Opaque {
    readonly id: number;
    readonly serial: number;
    /** As Erlang prints a pid, with the node's name first: `<node@host.83.0>`. */
    toString(): string;
}
/** An Erlang reference (opaque; see {@link Opaque}). */
export declare class Ref extends Opaque {
    /** The reference's 32-bit words, as encoded. */
    readonly ids: readonly number[];
    /** As Erlang prints a reference, with the node's name: `#Ref<node@host.3.2.1>`. */
    toString(): string;
}
/** An Erlang port identifier (opaque; see {@link Opaque}). */
export declare class Port extends Opaque {
    /** The port's number (64 bits since OTP 24). */
    readonly id: bigint;
    /** As Erlang prints a port, with the node's name: `#Port<node@host.5>`. */
    toString(): string;
}
/**
 * A term as `decodeTerm` gives it. Integers are numbers when they are safe
 * integers and bigints beyond; binaries are Buffers; maps are Maps.
 */
export type Term = number | bigint | Float | boolean | null | undefined | Atom | Buffer | Bitstring | Term[] | ImproperList<Term> | Tuple<Term> | Map<Term, Term> | Pid | Ref | Port;
/**
 * What `encodeTerm` takes: every {@link Term}, and also strings (UTF-8
 * binaries), any Uint8Array (a binary) and plain objects (maps with binary
 * keys), nested in any of these.
 */
export type Encodable = Exclude<Term, Term[] | Tuple<Term> | ImproperList<Term> | Map<Term, Term>> | string | Uint8Array | readonly Encodable[] | Tuple<Encodable> | ImproperList<Encodable> | ReadonlyMap<Encodable, Encodable> | {
    readonly [key: string]: Encodable;
};
/**
 * The text of a binary that holds UTF-8, checked: unlike `buf.toString()`,
 * a byte sequence that is not UTF-8 is an error, not a U+FFFD.
 * @throws TypeError when `binary` is not well-formed UTF-8.
 */
export declare function utf8(binary: Uint8Array): string;
