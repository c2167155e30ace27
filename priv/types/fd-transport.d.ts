import type { Io, SocketAddress, SocketOption } from "./addon";
import type { BatchAction } from "./types";
import type { Peer } from "./protocol";
import type { Transport, Upstream } from "./transport";
import type { Corkable, WriteCork } from "./cork";
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
/** The fd under every layer, as a protocol reaches past them: a read now
 * (Protocol.read), its socket options and addresses. */
export interface RawFd {
    readNow(size: number): Buffer | null;
    /** The last read of the fd took all the kernel held (a short read, or
     * EAGAIN). A READ event sets it false before anything is read: true at the
     * answer means no byte that came before that read is left, and the poller
     * saw what came after as an edge (REACTOR_ACTION_DRAINED). */
    drained: boolean;
    /** false when the fd is no socket that has the option (a Unix socket's
     * TCP_NODELAY, a pipe): nothing changed, as Node ignores it then */
    setSocketOption(name: SocketOption, value: number): boolean;
    socketAddress(peer: boolean): SocketAddress | null;
    /** A socket, not a pipe or a tty: it has a peer, which may speak first,
     * and what that peer sends after our FIN can be read (and dropped, by a
     * lingering close). */
    readonly socket: boolean;
}
/** What the fd transports share: the fd, its writes, its end. */
declare abstract class FdTransport implements Transport, RawFd {
    protected readonly io: Io;
    readonly fd: number;
    protected readonly slab: Slab;
    protected readonly traffic: Traffic;
    /** the most bytes one read takes */
    protected readonly readSize: number;
    /** RawFd.socket */
    readonly socket: boolean;
    up: Upstream;
    readonly opensLater = false;
    readonly settlesLater = false;
    readonly handshaking = false;
    readonly tlsSocket: undefined;
    abstract readonly datagram: boolean;
    protected closed: boolean;
    drained: boolean;
    /** shutdown(SHUT_WR) done: the peer has our FIN */
    private shut;
    /** socket options known to hold their value (set here, or by the
     * listener at accept): setting one to it again makes no syscall, as
     * net.Socket's setNoDelay skips one that changes nothing */
    private options;
    constructor(io: Io, fd: number, slab: Slab, traffic: Traffic, 
    /** the most bytes one read takes */
    readSize: number, 
    /** RawFd.socket */
    socket?: boolean);
    abstract readable(): void;
    /** A read now, outside any event (Protocol.read): null when nothing is there. */
    readNow(size: number): Buffer | null;
    /** A stream read of `want` bytes returned `n` (-1: EAGAIN, 0: EOF): it
     * drained the fd when it found nothing or less than it asked for; an EOF
     * is a state that stays readable, not drained. */
    protected readGave(n: number, want: number): void;
    get unsent(): number;
    flush(): boolean;
    setSocketOption(name: SocketOption, value: number): boolean;
    socketAddress(peer: boolean): SocketAddress | null;
    /** The fd has `name` set to `value` already (the handoff says so). */
    hasOption(name: SocketOption, value: number): void;
    /** On a datagram socket a write is one datagram: one that fails is
     * reported and counts as taken (it is gone, as a failed dgram send is). */
    writev(bufs: Uint8Array[]): number;
    /** One writev now (a write for one buffer): bytes the kernel took. */
    protected put(bufs: Uint8Array[]): number;
    /** The first `n` bytes of `buf` now: bytes the kernel took. */
    protected putOne(buf: Uint8Array, n: number, dropped?: number): number;
    /** Bytes sent, -1 when the kernel takes nothing now, 0 for a datagram the
     * kernel refused (reported through datagramError). A port or address that
     * cannot be one throws (errors.ts, datagramPort): never sent elsewhere. */
    sendTo(data: Uint8Array, addr: string, port: number): number;
    shutdownWrite(): void;
    get writableFinished(): boolean;
    discard(max: number): number;
    interest(want: BatchAction): BatchAction;
    close(): void;
    /** A broken fd (EPIPE, ECONNRESET) ends the connection wherever the call
     * came from, a handler or a timer; the error still reaches the caller. On a
     * datagram socket an error of one datagram goes to datagramError instead
     * and the call returns `dropped`. */
    private syscall;
    /** Reports an error that concerns one datagram (`to`: the failed send's
     * destination); false when the error is the fd's. */
    protected oneDatagram(e: Error, to?: Peer): boolean;
}
export declare class StreamTransport extends FdTransport implements Corkable {
    /** the engine's: writes made while it is active are held until the slice ends */
    private readonly cork?;
    readonly datagram = false;
    private hint;
    /** bytes read from the connection before its handoff: the first read gives them */
    private preread;
    /** what was written while the slice was corked (cork.ts), copied in order:
     * its first heldBytes bytes */
    private held;
    private heldBytes;
    /** what the kernel did not take of an uncork: it goes before anything else */
    private pending;
    /** shutdownWrite came while bytes were pending: the FIN follows them */
    private shutWanted;
    constructor(io: Io, fd: number, slab: Slab, traffic: Traffic, readSize: number, socket?: boolean, 
    /** the engine's: writes made while it is active are held until the slice ends */
    cork?: WriteCork | undefined);
    /** What an uncork left: the kernel has not taken it yet. Held bytes are
     * not counted: they count as taken, and go out when the slice ends. */
    get unsent(): number;
    /** Held while the slice is corked (copied: the caller may reuse its
     * buffers once the write counts as done), or written now after what is
     * held; nothing is taken while an uncork's rest waits and the kernel
     * takes none of it. */
    writev(bufs: Uint8Array[]): number;
    /** What is held goes to the kernel in one write; what it does not take
     * waits as `pending`, and the layers above are woken to arm WRITE for it.
     * A broken fd has ended the connection (FdTransport's syscall). */
    uncork(): void;
    /** What is held, no longer held. */
    private takeHeld;
    /** Never throws, as FdTransport's does not: a broken fd has ended the
     * connection (FdTransport's syscall reported it), and what waited is gone. */
    flush(): boolean;
    shutdownWrite(): void;
    interest(want: BatchAction): BatchAction;
    /** What is held is written first, as bytes the kernel took would still
     * go (best effort: no error is reported from a close). */
    close(): void;
    /** Bytes that come before anything the fd holds (as Node's
     * readable.unshift puts data back at the head of a stream). */
    unshift(bytes: Buffer): void;
    readNow(size: number): Buffer | null;
    readable(): void;
    private takePreread;
}
/** UDP and Unix datagram sockets. One socket serves every peer, so an error
 * about one datagram (a send too large, an ICMP port unreachable reported as
 * ECONNREFUSED on a connected socket's next read or send) never ends it: it
 * goes to datagramError and the socket serves on, as Node's dgram emits
 * 'error' and stays open. */
export declare class DatagramTransport extends FdTransport {
    readonly datagram = true;
    readable(): void;
}
export {};
