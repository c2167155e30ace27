import type { ClientInfo, BatchAction } from "./types";
import type { TlsConfig } from "./tls-config";
import { Layer, Transport } from "./transport";
export declare class TlsLayer extends Layer {
    private peer;
    /** plaintext taken but not yet out past which writev takes no more (0 = none) */
    private readonly highWater;
    private readonly socket;
    private readonly cipher;
    private readonly timer;
    private secure;
    private failed;
    private closed;
    /** what the layers below learnt (the real client, behind a PROXY header) */
    private patch;
    private taken;
    private flushed;
    constructor(below: Transport, config: TlsConfig, peer: {
        addr?: unknown;
        port?: unknown;
    }, 
    /** plaintext taken but not yet out past which writev takes no more (0 = none) */
    highWater: number);
    get opensLater(): boolean;
    get settlesLater(): boolean;
    /** Ciphertext waiting for the fd, and whatever waits below. */
    get unsent(): number;
    interest(want: BatchAction): BatchAction;
    data(cipher: Buffer): void;
    end(): void;
    open(patch: Partial<ClientInfo>): void;
    wantsMore(): boolean;
    writev(bufs: Uint8Array[]): number;
    shutdownWrite(): void;
    /** Queued ciphertext down; true when none is left. A broken fd has already
     * ended the connection (the layer below reported it). */
    flush(): boolean;
    close(): void;
    /** Plaintext taken whose ciphertext is not out yet (about: TLS adds a little
     * per record, and encrypts in its own time). */
    private backlog;
    private onSecure;
    private fail;
}
