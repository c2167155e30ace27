import { Duplex } from "stream";
import type { Server } from "net";
import type { CipherNameAndProtocol, DetailedPeerCertificate, PeerCertificate } from "tls";
import type { SocketAddress } from "./addon";
import type { TlsInfo } from "./types";
/** How a Socket behaves, as net.Server passes its options to each socket. */
export interface SocketOptions {
    /** keep the writable side open after the peer's end (net's allowHalfOpen; default false) */
    allowHalfOpen?: boolean;
    /** bytes the readable side holds before reading pauses (Node's default when unset) */
    readableHighWaterMark?: number;
    /** bytes the writable side holds before write() returns false (Node's default when unset) */
    writableHighWaterMark?: number;
    /** nothing is read until resume() (net's pauseOnCreate: a net.Server's pauseOnConnect) */
    pauseOnCreate?: boolean;
}
/**
 * One connection as a `net.Socket`-compatible Duplex: what a stream handler
 * (a `net.Server` a protocol module exports, `http.createServer(app)`) gets
 * as its `'connection'`. Over TLS it answers as a tls.TLSSocket too. Each
 * member, and how it maps onto the Protocol: docs/streams.md.
 */
export declare class Socket extends Duplex {
    private readonly proto;
    /** Always false: the connection was made before the handoff (net.Socket's). */
    readonly connecting = false;
    /** Always false: the socket is connected (net.Socket's). */
    readonly pending = false;
    /** Plaintext bytes received (net.Socket's). */
    bytesRead: number;
    /** The idle time after which `'timeout'` is emitted (ms), as setTimeout set it; undefined when none. */
    timeout: number | undefined;
    /** The server whose `'connection'` this socket was (net.Socket's). */
    server: Server | null;
    private readonly clock;
    /** bytes given to the connection (bytesWritten adds what waits in the stream) */
    private dispatched;
    /** _write's callback, until writeBuffer is empty */
    private waiting;
    /** _final's callback, until the graceful close is done */
    private finishing;
    /** the peer's end came */
    private eof;
    private timer;
    /** when the pending timer fires (clock ms) */
    private timerAt;
    private lastActive;
    /** 'timeout' was emitted: the next activity starts the count again */
    private timedOut;
    private tls;
    /** it ended with an error ('close''s hadError) */
    private failed;
    private addresses;
    /** The peer's IP address (a string), or undefined (a Unix socket). */
    get remoteAddress(): string | undefined;
    /** The peer's port. */
    get remotePort(): number | undefined;
    /** `"IPv4"` or `"IPv6"`, as Node names the peer's family. */
    get remoteFamily(): string | undefined;
    /** Our end's IP address. */
    get localAddress(): string | undefined;
    /** Our end's port. */
    get localPort(): number | undefined;
    /** Our end, as net.Socket's address(): `{ address, family, port }`, or `{}`
     * when the fd is no IP socket. */
    address(): SocketAddress | Record<string, never>;
    /** Node's copy of the fd (Protocol.fd), -1 once closed: for a socket
     * option the Socket has no method for, never to read or write. */
    get fd(): number;
    /** Bytes written: given to the connection, and waiting in the stream (net.Socket's). */
    get bytesWritten(): number;
    /** `"open"`, `"readOnly"`, `"writeOnly"` or `"closed"`, as net.Socket's. */
    get readyState(): "open" | "readOnly" | "writeOnly" | "closed";
    /** TCP_NODELAY on (the default) or off (Nagle's algorithm), as net.Socket's. */
    setNoDelay(noDelay?: boolean): this;
    /** TCP keepalive, and the idle time before its first probe (ms; 0 leaves it), as net.Socket's. */
    setKeepAlive(enable?: boolean, initialDelay?: number): this;
    /** net.Socket's: `'timeout'` after `ms` without reads or writes, once until
     * there is activity again (0: never); the socket is not ended. `callback`
     * is a once listener of it. On the engine's clock (the harness's is manual). */
    setTimeout(ms: number, callback?: () => void): this;
    /** End the writable side, then destroy once it is finished (net.Socket's;
     * http's `Connection: close`). */
    destroySoon(): void;
    /** Close now, without an error (net.Socket's resetAndDestroy sends a
     * reset; here the fd is closed abortively: what is queued is dropped). */
    resetAndDestroy(): this;
    /** Nothing to do: the fd is never in Node's event loop (net.Socket's ref). */
    ref(): this;
    /** Nothing to do: the fd is never in Node's event loop (net.Socket's unref). */
    unref(): this;
    /** STARTTLS on this plaintext connection (Protocol.startTls, with the
     * connection's `starttls` option set): resolves with the session once
     * handshaken, when `'secure'` is emitted, as tls.TLSSocket emits it; from
     * then on the members below answer for TLS. Rejects as Protocol.startTls. */
    startTls(): Promise<TlsInfo>;
    /** true on a TLS connection (tls.TLSSocket's `encrypted`), undefined on a
     * plain one, as a net.Socket has none: Express's `req.secure` and
     * `req.protocol`, ws and Fastify read it. */
    get encrypted(): true | undefined;
    /** Whether the peer's certificate was verified against the CAs (TLS only). */
    get authorized(): boolean;
    /** Why the peer's certificate was not verified, as tls.TLSSocket says it. */
    get authorizationError(): Error | string | undefined;
    /** The protocol ALPN chose (`"http/1.1"`, `"h2"`), or false; undefined
     * on a plain connection, as on a net.Socket (http2 reads false as "TLS
     * without h2" and refuses). */
    get alpnProtocol(): string | false | undefined;
    /** The server name the client asked for (SNI), or false; undefined on a plain connection. */
    get servername(): string | false | undefined;
    /** The peer's certificate (tls.TLSSocket's): `{}` when it sent none, null
     * on a plain connection or once the session is gone. */
    getPeerCertificate(detailed: true): DetailedPeerCertificate | null;
    getPeerCertificate(detailed?: false): PeerCertificate | null;
    /** The TLS version (`"TLSv1.3"`), or null. */
    getProtocol(): string | null;
    /** The cipher suite, or null. */
    getCipher(): CipherNameAndProtocol | null;
    /** Bytes into Protocol.write, in order; `cb` now when the kernel took them
     * all, else once writeBuffer is empty (then 'drain' follows). */
    private send;
    private session;
    private endOf;
    private activity;
    /** The timer, due in `ms`: due() checks the count when it fires. */
    private arm;
    /** The count ran out; activity since it started waits the rest. */
    private due;
    private stopTimer;
}
