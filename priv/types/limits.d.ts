/** Largest connection id (REACTOR_MAX_ID; Erlang: ?MAX_ID in reactor_limits.hrl). */
export declare const MAX_ID = 2147483647;
/** Defaults of the context options Erlang may leave out of `init`
 * (REACTOR_DEFAULT_*; Erlang: reactor_config:default/1). */
export declare const DEFAULTS: {
    /** the most bytes one read takes */
    readonly readSize: number;
    /** writeBuffer bytes past which a connection stops reading */
    readonly writeHighWater: number;
    /** ms a handler's Promise may stay pending (0 = none) */
    readonly callbackTimeout: 0;
    /** ms without an event before a connection is closed (0 = none) */
    readonly idleTimeout: 0;
    /** ms a TLS handshake may take */
    readonly handshakeTimeout: 10000;
    /** ms a graceful close may wait for the peer to take the last bytes (0 = none) */
    readonly closeTimeout: 30000;
    /** ms a closed connection reads and drops what the peer still sends (0 = no
     * lingering close); cowboy's linger_timeout is 1000 too */
    readonly lingerTimeout: 1000;
    /** bytes a lingering close drops at most (0 = only the time bounds it) */
    readonly lingerMaxBytes: number;
    /** messages a connection holds for its protocol while it does not take
     * them (a pending handler, a full writeBuffer); one more closes it with
     * EMESSAGEOVERFLOW */
    readonly maxQueuedMessages: 1000;
    /** beam.calls in flight per context; past it a call rejects at once (EOVERLOADED) */
    readonly maxBeamCalls: 1024;
    /** ms a beam.call may take unless it says otherwise */
    readonly beamCallTimeout: 5000;
};
/** read_size is refused above this (16 MiB). REACTOR_MAX_READ_SIZE. */
export declare const MAX_READ_SIZE: number;
/** Reads adapt per connection between these (see FdTransport). */
export declare const READ_START: number;
export declare const READ_MIN: number;
/** Reads land in slabs of at least this size. */
export declare const SLAB_MIN: number;
/** Reads per READ event before the connection yields to the others. */
export declare const MAX_READS_PER_EVENT = 4;
/** Datagrams per READ event, and the largest one. */
export declare const MAX_DATAGRAMS_PER_EVENT = 64;
export declare const DATAGRAM_MAX = 65536;
/** A log line longer than this is cut. */
export declare const MAX_LOG_TEXT: number;
/** Bytes one connection's writes may hold while a serving slice is corked
 * (cork.ts); a write past it goes out at once, after what is held. */
export declare const CORK_MAX_PER_FD: number;
/** Bytes every connection's writes together may hold while a slice is
 * corked: past it, writes go out at once. */
export declare const CORK_MAX: number;
/** Buffers per writev, of IOV_MAX's 1024 (why 64: docs/performance.md). */
export declare const MAX_IOV = 64;
/**
 * The largest term that crosses the bridge, in bytes of its External Term
 * Format encoding with the version byte (64 MiB). Checked when encoding and
 * when decoding (ts/term.ts); Erlang: reactor_term:max_size/0.
 */
export declare const MAX_TERM_SIZE: number;
/** Frames from Erlang larger than this end the port: the largest is a bridge
 * frame, its tag byte and a term of MAX_TERM_SIZE bytes (bridge.ts). */
export declare const MAX_IN_FRAME: number;
/**
 * The deepest a term may nest: each list, tuple or map adds a level, a bare
 * value is at depth 0. Checked when encoding and when decoding (ts/term.ts);
 * Erlang: reactor_term:max_depth/0.
 */
export declare const MAX_TERM_DEPTH = 1000;
/**
 * The most bytes an integer's magnitude may have (4,194,296: 33,554,368 bits),
 * Erlang's own limit on a bignum (`binary_to_term/1` refuses one larger).
 */
export declare const MAX_BIG_BYTES = 4194296;
/** The longest name of a group of connections (Protocol.join), in bytes
 * (REACTOR_MAX_GROUP_BYTES; Erlang: reactor_groups:max_group_bytes/0). */
export declare const MAX_GROUP_BYTES = 255;
/** The most groups one connection is in at once
 * (REACTOR_MAX_GROUPS_PER_CONNECTION; Erlang: reactor_groups). */
export declare const MAX_GROUPS_PER_CONNECTION = 1024;
