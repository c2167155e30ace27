import type { TLSSocket } from "tls";
import type { ClientInfo, BatchAction } from "./types";
import type { Peer } from "./protocol";
/** What a transport tells the layer above it. */
export interface Upstream {
    /** Bytes for the layer above (after any header, decrypted). A datagram
     * transport gives one datagram per call, with its sender. */
    data(buf: Buffer, from?: Peer): void;
    /** The peer finished sending. */
    end(): void;
    /** This layer is ready to carry the connection (its header was read, its
     * handshake done); `patch` goes into clientInfo. */
    open(patch: Partial<ClientInfo>): void;
    /** The layer failed; the connection ends with `e`. A `logText` says the
     * peer did something wrong (logged as a warning, counted as an error); a
     * broken fd (EPIPE, ECONNRESET) comes without one. */
    error(e: Error, logText?: string): void;
    /** Something changed outside a call from above (ciphertext queued, a
     * handshake finished): flush and re-arm soon. */
    wake(): void;
    /** Whether to deliver more now, if there is more (the layer above still
     * wants to read). */
    wantsMore(): boolean;
    /** A datagram larger than the read size was dropped (datagram transports). */
    dropped?(size: number, from: Peer): void;
    /** A syscall failed for one datagram (datagram transports): a send to `to`,
     * or, without `to`, a read that reported an ICMP error for an earlier one.
     * The socket goes on. */
    datagramError?(e: Error, to?: Peer): void;
}
/** One layer of a connection's stack. */
export interface Transport {
    /** Set by the layer above before any event. */
    up: Upstream;
    /** Open from the start (a plain fd) or only after a header or a handshake. */
    readonly opensLater: boolean;
    /** Produces bytes outside the calls made to it (TLS): the layer above lets
     * it settle on its own tick before arming. */
    readonly settlesLater: boolean;
    /** Datagrams at the bottom (UDP): no FIN and no lingering close. */
    readonly datagram: boolean;
    /** A handshake of its own is running (TLS started on a live connection):
     * the fd is armed for it even while the protocol's handler is pending. */
    readonly handshaking: boolean;
    /** READ readiness: read what is there and deliver it up. */
    readable(): void;
    /** WRITE readiness: push this layer's own queued bytes down; true when none is left. */
    flush(): boolean;
    /** Bytes from above; returns how many were taken (maybe 0). */
    writev(bufs: Uint8Array[]): number;
    /** One datagram now: bytes sent, -1 when the kernel takes nothing now. */
    sendTo(data: Uint8Array, addr: string, port: number): number;
    /** The end of what we send (TLS's close_notify, then the FIN); reading goes
     * on. Idempotent. */
    shutdownWrite(): void;
    /** After shutdownWrite: everything it produced is out, the FIN included
     * (Node's `writableFinished`). */
    readonly writableFinished: boolean;
    /** A lingering close: one read of up to `max` bytes at the fd, dropped
     * (never decrypted or delivered). Bytes dropped; 0 at the end (EOF, a
     * reset, or an fd that cannot be read); -1 when nothing is there now. */
    discard(max: number): number;
    /** Let go of everything (best effort: the peer may be gone). Idempotent. */
    close(): void;
    /** What the fd must be armed for, given what the layer above wants. */
    interest(want: BatchAction): BatchAction;
    /** Bytes taken from above that the kernel has not taken yet. */
    readonly unsent: number;
    /** The TLS session a layer holds, once its handshake is done: what a
     * stream answers of a tls.TLSSocket (getPeerCertificate, ...). */
    readonly tlsSocket: TLSSocket | undefined;
}
/** A layer over another: events from below are its to interpret; calls it does
 * not change go straight down. */
export declare abstract class Layer implements Transport, Upstream {
    protected readonly below: Transport;
    up: Upstream;
    constructor(below: Transport);
    get opensLater(): boolean;
    get settlesLater(): boolean;
    get datagram(): boolean;
    get handshaking(): boolean;
    get writableFinished(): boolean;
    get unsent(): number;
    get tlsSocket(): TLSSocket | undefined;
    readable(): void;
    flush(): boolean;
    writev(bufs: Uint8Array[]): number;
    sendTo(data: Uint8Array, addr: string, port: number): number;
    shutdownWrite(): void;
    discard(max: number): number;
    close(): void;
    interest(want: BatchAction): BatchAction;
    data(buf: Buffer, from?: Peer): void;
    end(): void;
    open(patch: Partial<ClientInfo>): void;
    error(e: Error, logText?: string): void;
    wake(): void;
    wantsMore(): boolean;
    dropped(size: number, from: Peer): void;
    datagramError(e: Error, to?: Peer): void;
}
