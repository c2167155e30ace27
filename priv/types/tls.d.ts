import * as tls from "tls";
import type { ClientInfo, BatchAction } from "./types";
import type { TlsConfig } from "./tls-config";
import { Layer, Transport } from "./transport";
export declare class TlsLayer extends Layer {
    private peer;
    /** plaintext taken but not yet out past which writev takes no more (0 = none) */
    private readonly highWater;
    /** what its log lines call the handshake: "TLS", or "STARTTLS" on a live connection */
    private readonly label;
    private readonly socket;
    private readonly cipher;
    private readonly timer;
    private secure;
    private failed;
    private closed;
    /** shutdownWrite ran: close_notify is on its way */
    private ending;
    /** close_notify is in the cipher queue (TLS ended its side of the stream) */
    private notified;
    /** the FIN followed it below */
    private finSent;
    /** what the layers below learnt (the real client, behind a PROXY header) */
    private patch;
    /** plaintext TLS gave while the layer above took none (a handler's Promise
     * pending, reading paused, a write first): what one read of ciphertext
     * decrypts comes as several records, and each would be a dataReceived */
    private held;
    /** TLS's end came behind held plaintext */
    private heldEnd;
    private releasing;
    private taken;
    private flushed;
    constructor(below: Transport, config: TlsConfig, peer: {
        addr?: unknown;
        port?: unknown;
    }, 
    /** plaintext taken but not yet out past which writev takes no more (0 = none) */
    highWater: number, 
    /** what its log lines call the handshake: "TLS", or "STARTTLS" on a live connection */
    label?: string);
    get handshaking(): boolean;
    get opensLater(): boolean;
    get settlesLater(): boolean;
    get tlsSocket(): tls.TLSSocket | undefined;
    /** Ciphertext waiting for the fd, and whatever waits below. */
    get unsent(): number;
    interest(want: BatchAction): BatchAction;
    data(cipher: Buffer): void;
    end(): void;
    open(patch: Partial<ClientInfo>): void;
    wantsMore(): boolean;
    writev(bufs: Uint8Array[]): number;
    /** close_notify, then (once it is out) the FIN; TLS 1.3 peers may still send. */
    shutdownWrite(): void;
    get writableFinished(): boolean;
    /** Queued ciphertext down; true when none is left. A broken fd has already
     * ended the connection (the layer below reported it). */
    flush(): boolean;
    close(): void;
    /** Plaintext taken whose ciphertext is not out yet (about: TLS adds a little
     * per record, and encrypts in its own time). */
    private backlog;
    /** Held plaintext goes up on a tick of its own, never from inside arm():
     * no fd event will come for it (the fd may be drained). */
    private releaseSoon;
    private onSecure;
    private fail;
}
