import type { Io } from "./addon";
import type { BatchAction } from "./types";
import type { Transport, Upstream } from "./transport";
/** Bytes moved, over every connection of an engine. */
export interface Traffic {
    bytesIn: number;
    bytesOut: number;
}
/** Where reads land. Protocols get views of it; a slab is never reused, only
 * replaced, so a view a protocol keeps stays valid. */
export declare class Slab {
    private buf;
    private off;
    /** Room for `want` bytes at `offset` of `buffer`. */
    room(want: number): {
        buffer: Buffer;
        offset: number;
    };
    /** The `n` bytes just read into room(): a view, and the room moves past it. */
    take(n: number): Buffer;
}
/** What the fd transports share: the fd, its writes, its end. */
declare abstract class FdTransport implements Transport {
    protected readonly io: Io;
    readonly fd: number;
    protected readonly slab: Slab;
    protected readonly traffic: Traffic;
    /** the most bytes one read takes */
    protected readonly readSize: number;
    up: Upstream;
    readonly opensLater = false;
    readonly settlesLater = false;
    readonly unsent = 0;
    private closed;
    constructor(io: Io, fd: number, slab: Slab, traffic: Traffic, 
    /** the most bytes one read takes */
    readSize: number);
    abstract readable(): void;
    /** A read now, outside any event (Protocol.read): null when nothing is there. */
    readNow(size: number): Buffer | null;
    flush(): boolean;
    writev(bufs: Uint8Array[]): number;
    sendTo(data: Uint8Array, addr: string, port: number): number;
    shutdownWrite(): void;
    interest(want: BatchAction): BatchAction;
    close(): void;
    /** A broken fd (EPIPE, ECONNRESET) ends the connection wherever the call
     * came from, a handler or a timer; the error still reaches the caller. */
    private syscall;
}
export declare class StreamTransport extends FdTransport {
    private hint;
    readable(): void;
}
export declare class DatagramTransport extends FdTransport {
    readable(): void;
}
export {};
