import type { Datagram, Io, SocketAddress, SocketOption } from "./addon";
/** A datagram with its sender or receiver. */
export interface MemoryDatagram {
    data: Buffer;
    addr: string;
    port: number;
}
/** The calls of an fd that can be made to fail, as `failNext` names them. */
export type MemoryFdCall = "writev" | "recvFrom" | "sendTo";
/** The fd in memory: what the peer sent, what it received, how much it takes.
 * The `fd` argument of each call is ignored: one MemoryFd is one fd. */
export declare class MemoryFd implements Io {
    /** What reads return, oldest first: bytes (a read takes at most one chunk,
     * and leaves the rest of it for the next), the peer's EOF (stays: every
     * later read sees it too), or an error the next read throws (once). */
    inbox: (Buffer | "eof" | Error)[];
    /** datagrams recvFrom returns, oldest first */
    datagramsIn: MemoryDatagram[];
    /** each write's bytes, in order */
    received: Buffer[];
    /** datagrams sendTo sent, in order */
    datagramsOut: MemoryDatagram[];
    /** bytes the peer still takes before it stops reading (undefined: all) */
    room: number | undefined;
    closed: boolean;
    shutWrite: boolean;
    /** the socket options set on it, as getsockopt would read them back */
    readonly options: Partial<Record<SocketOption, number>>;
    /** what getsockname and getpeername would say (unset: not an IP socket) */
    local: SocketAddress | undefined;
    peer: SocketAddress | undefined;
    /** Errors the next calls of each kind throw instead of doing anything,
     * oldest first, each once; the call after them works again. They stand for
     * what a socket reports for one call and survives: sendTo's EMSGSIZE or
     * EHOSTUNREACH, a connected datagram socket's ECONNREFUSED (an ICMP port
     * unreachable) from recvFrom or writev; readInto's go in `inbox`. Give
     * them the addon's shape: an Error with `code`, `errno` and `syscall`. A
     * recvFrom error waiting makes the fd readable, as a socket error does. */
    readonly failNext: Record<MemoryFdCall, Error[]>;
    /** A read would find something (bytes, EOF, an error, a datagram). */
    get readable(): boolean;
    /** A write would take at least a byte. */
    get writable(): boolean;
    readInto(_fd: number, buf: Buffer, off: number, len: number): number;
    writev(_fd: number, bufs: Uint8Array[]): number;
    write(fd: number, buf: Uint8Array, offset: number, length: number): number;
    shutdown(_fd: number, how: 0 | 1 | 2): void;
    close(): void;
    recvFrom(_fd: number, buf: Buffer, off: number, len: number): Datagram | null;
    sendTo(_fd: number, data: Uint8Array, addr: string, port: number): number;
    setSocketOption(_fd: number, name: SocketOption, value: number): void;
    getSocketOption(_fd: number, name: SocketOption): number;
    socketAddress(_fd: number, peer: boolean): SocketAddress | null;
    private throwScripted;
}
