/** What the fd is, as Erlang found it (fstat, getsockopt SO_TYPE/SO_DOMAIN). */
export type TransportType = "tcp" | "udp" | "unix" | "unix_dgram" | "pipe" | "tty" | "socket";
/** The negotiated TLS session, once the handshake is done. */
export interface TlsInfo {
    protocol: string | null;
    cipher: string | null;
    alpn: string | null;
    sni: string | null;
    peer_subject: string | null;
    authorized: boolean;
}
/** What a protocol knows of its connection: what Erlang found and the caller
 * gave (merged), the real client behind a PROXY header, the TLS session. */
export interface ClientInfo {
    type?: TransportType;
    /** the peer (behind a PROXY header: the real client) */
    addr?: string;
    port?: number;
    family?: "inet" | "inet6";
    local_addr?: string;
    local_port?: number;
    /** the listener that accepted it */
    listener?: string;
    /** the load balancer that sent the PROXY header */
    proxied_by?: {
        addr?: string;
        port?: number;
    };
    tls?: TlsInfo;
    /** a Unix socket's peer credentials (SO_PEERCRED) */
    peer?: {
        pid: number;
        uid: number;
        gid: number;
    };
    /** anything else the caller put in the client info */
    [key: string]: unknown;
}
/** An Action as Node's action batches carry it to Erlang (batch.ts gives
 * each its code): what to arm the fd for next, or close; "linger": the FIN
 * is out and Node's copy of the fd closed, Erlang's poller reads and drops
 * what the peer still sends until its end (a lingering close, closing.ts).
 * "continue" never travels: the connection resolves it to the event it
 * handled. Erlang refuses anything else too. */
export type BatchAction = "read_pending" | "write_pending" | "close" | "linger";
/** The layers a connection's bytes pass through, as the handoff names them:
 * a PROXY header first, then TLS under the configuration Erlang sent with
 * this key (`tls_config`; key 0 is the context's own `tls`). */
export interface TransportSpec {
    proxy: boolean;
    tls: number | false;
    /** the configuration Protocol.startTls uses (its listener's or its
     * context's `starttls`); absent: none. Never with `tls`. */
    starttls?: number;
    /** TCP_NODELAY is on already (the client info's `nodelay`: a listener's
     * socket_opts set it): setNoDelay(true) makes no syscall */
    nodelay?: boolean;
    /** bytes read from the connection before its handoff (the client info's
     * `preread`, e.g. what reactor:handoff_socket/3 took out of a gen_tcp
     * port): the bottom of the stack reads them before the fd's */
    preread?: Buffer;
}
export type LogLevel = "error" | "warning" | "notice" | "info" | "debug";
/** Why a handoff is refused; Erlang's reactor_wire maps each to an atom. */
export type NackReason = "fd_missing" | "fd_truncated" | "factory_failed" | "connection_made_failed" | "invalid_action" | "duplicate_id" | "tls_config_failed";
export interface Stats {
    connections: number;
    bytes_in: number;
    bytes_out: number;
    events: number;
    errors: number;
    buffered: number;
    tls_queued: number;
    /** messages the protocols took (messageReceived ran) */
    messages_delivered: number;
    /** messages waiting in connections' queues now */
    messages_queued: number;
    /** messages for a connection that had ended, or ended before taking them: dropped */
    sent_to_ended: number;
}
