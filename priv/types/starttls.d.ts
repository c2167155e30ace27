import type { TLSSocket } from "tls";
import type { ClientInfo, BatchAction, TlsInfo } from "./types";
import type { Peer } from "./protocol";
import type { TlsConfig } from "./tls-config";
import type { Transport, Upstream } from "./transport";
export declare class StartTlsLayer implements Transport, Upstream {
    private readonly below;
    /** the connection's `starttls` option set (its listener's or its context's) */
    private readonly config;
    /** plaintext taken but not yet out past which TLS takes no more (0 = none) */
    private readonly highWater;
    up: Upstream;
    /** the layer calls go to: the one below, then TLS once started */
    private inner;
    private tls;
    /** what the protocol wrote before the start: out in clear, first */
    private clear;
    private clearBytes;
    private secure;
    private handshake;
    constructor(below: Transport, 
    /** the connection's `starttls` option set (its listener's or its context's) */
    config: TlsConfig, 
    /** plaintext taken but not yet out past which TLS takes no more (0 = none) */
    highWater: number);
    /** Whether startTls ran on this connection. */
    get started(): boolean;
    /** TLS from now on, as a server. `clear`: bytes the protocol wrote before
     * (its writeBuffer), written in clear first. `peer` names the client in
     * TLS's log lines; `onSecure` gets the session when the handshake is done,
     * before the Promise resolves with it. A failed handshake rejects it and
     * ends the connection (Upstream.error). */
    start(clear: Uint8Array[], peer: ClientInfo, onSecure: (info: TlsInfo) => void): Promise<TlsInfo>;
    get opensLater(): boolean;
    get settlesLater(): boolean;
    get datagram(): boolean;
    /** TLS's socket once started (the stream's TLSSocket members read it), none before. */
    get tlsSocket(): TLSSocket | undefined;
    get handshaking(): boolean;
    get writableFinished(): boolean;
    get unsent(): number;
    readable(): void;
    /** The clear bytes first, then TLS's records; true when none is left. */
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
    private fail;
    private consumeClear;
}
