import type { ClientInfo } from "./types";
/** What a handler tells the reactor to do next. */
export type Action = "continue" | "write_pending" | "read_pending" | "close";
export declare const ACTIONS: ReadonlySet<string>;
export type { ClientInfo };
/** Where a datagram came from, or goes to. */
export interface Peer {
    addr: string;
    port: number;
}
/** A datagram waiting for the kernel. */
export interface OutgoingDatagram extends Peer {
    data: Uint8Array;
}
/** Which of a connection's own timers fired (see Protocol.setIdleTimeout). */
export type TimerKind = "idle" | "deadline";
/** The runtime's side of one connection, as a Protocol sees it. */
export interface ConnectionHandle {
    setTimer(kind: TimerKind, ms: number): void;
    read(size: number): Buffer | null;
    writev(bufs: Uint8Array[]): number;
    sendTo(data: Uint8Array, addr: string, port: number): number;
    shutdownWrite(): void;
    close(reason?: Error): void;
    destroy(reason?: Error): void;
}
/** Outgoing bytes not yet taken by the kernel. Holds references, not copies:
 * the Buffers handed to dataReceived are never reused, so echoing them is free. */
export declare class WriteBuffer {
    private chunks;
    private head;
    private size;
    get length(): number;
    /** Queue bytes (a string is UTF-8). Returns the new length. */
    push(data: Uint8Array | string): number;
    /** Same as push; the name the Python reactor's bytearray had. */
    extend(data: Uint8Array | string): number;
    /** Up to `max` chunks from the front, ready for writev. */
    peek(max?: number): Uint8Array[];
    /** Drop n bytes from the front. */
    consume(n: number): void;
    clear(): void;
    /** A copy of everything queued (for tests and small protocols). */
    toBuffer(): Buffer;
}
export declare abstract class Protocol {
    /** Node's copy of the connection's fd. */
    fd: number;
    clientInfo: ClientInfo;
    readonly writeBuffer: WriteBuffer;
    /** Datagrams the kernel did not take yet (UDP); writeReady sends them. */
    readonly datagrams: OutgoingDatagram[];
    closed: boolean;
    /** Called once when the fd is handed off. May return the first Action
     * (default "read_pending"), e.g. "write_pending" to send a greeting. */
    connectionMade(fd: number, clientInfo: ClientInfo): Action | void;
    /** Bytes arrived. `data` is a view over the bytes read, not a copy; it stays
     * valid for as long as it is referenced. On a datagram socket (UDP) each call
     * is one whole datagram and `from` is its sender. */
    abstract dataReceived(data: Buffer, from?: Peer): Action | Promise<Action>;
    /** A datagram was larger than the context's read_size: it was not delivered.
     * The default logs a warning. */
    datagramTooLarge(size: number, from: Peer): void;
    /** A datagram socket's syscall failed for one datagram; the socket serves
     * on, as Node's dgram emits `'error'` and stays open. `err` is the system
     * error (`err.code`: `EMSGSIZE` for a send larger than the socket takes,
     * `ECONNREFUSED` or `EHOSTUNREACH` when an ICMP error for an earlier
     * datagram comes back on a connected socket, `EINVAL` for an address that
     * is not one, `EACCES`, `ENOBUFS`, ...). `to` is the destination of the
     * send that failed (`sendTo`; a connected socket's `write` has none); it is
     * unset when the error came on a read. The datagram is gone: `sendTo`
     * returns true and `write` counts it as taken. Only EBADF, ENOTSOCK and
     * EFAULT (the fd itself is unusable) end the connection. The default logs a
     * warning; a throw here is logged and ends nothing. */
    datagramError(err: Error, to?: Peer): void;
    /** The fd can take bytes. The default flushes queued datagrams and
     * writeBuffer, asks to write again until both are empty, then goes back to
     * reading. */
    writeReady(): Action | Promise<Action>;
    /** The peer closed its side (EOF). Return true to keep the connection open for
     * writing what is left; once the protocol asks to read again it is closed. */
    eofReceived(): boolean | void;
    /** Called exactly once when the connection ends; `reason` is unset on a clean close. */
    connectionLost(reason?: Error): void;
    /** Read up to `size` bytes now: a Buffer, an empty Buffer at EOF, or null when
     * nothing is available. */
    read(size?: number): Buffer | null;
    /** Write now, without blocking. Returns the bytes the kernel took (maybe 0). */
    write(data: Uint8Array | string): number;
    /** Send one datagram to addr:port now (true), or queue it for writeReady
     * when the kernel takes nothing now (false: return "write_pending"). A
     * datagram the kernel refuses is reported to datagramError, here or when
     * the queue is flushed, and counts as done (true): it never throws for it
     * and the socket serves on. `addr` is an IP literal (no DNS lookup is
     * made: any other string is reported to datagramError as EINVAL).
     * Arguments that cannot name a destination throw at once, as Node's dgram
     * `send` throws them: a port that is not an integer 1-65535 a RangeError
     * with code ERR_SOCKET_BAD_PORT, an `addr` that is not a string a
     * TypeError with code ERR_INVALID_ARG_TYPE (programming errors, not the
     * network's: nothing is sent or queued). */
    sendTo(data: Uint8Array | string, addr: string, port: number): boolean;
    /** Write as much of writeBuffer (and of the datagram queue) as the kernel
     * takes now. Returns bytes written. */
    flush(): number;
    /** Half-close: the peer sees the end of what we send (FIN, or TLS
     * close_notify) while we can still read. Call it once writeBuffer is flushed. */
    shutdownWrite(): void;
    /** Close the connection (from a handler, a timer, a promise, anywhere),
     * as returning "close" does and as Node's socket.end() does: what
     * writeBuffer holds is written first, then TLS's close_notify and the FIN;
     * connectionLost runs once they are out. A peer that takes nothing is cut
     * after the context's close_timeout (connectionLost gets ECLOSETIMEOUT).
     * Then, unseen by the protocol, what the peer still sends is read and
     * dropped until its end (at most linger_timeout, linger_max_bytes), so
     * that it reads our last bytes instead of a reset. */
    close(): void;
    /** Close the connection now, as Node's socket.destroy() does: what is
     * queued is dropped, the fd is closed, connectionLost(reason) runs at once. */
    destroy(reason?: Error): void;
    /** Be told after `ms` without data from the peer, as Node's
     * socket.setTimeout and Bun's `timeout` handler do: `timedOut("idle")` runs,
     * and by default closes. Data restarts the count; 0 turns it off. */
    setIdleTimeout(ms: number): void;
    /** Be told `ms` from now whatever the traffic, e.g. a whole request header
     * must arrive within 10 s however slowly it trickles: `timedOut("deadline")`
     * runs, and by default closes. Setting it again moves it; 0 clears it. */
    setDeadline(ms: number): void;
    /** A timer of setIdleTimeout or setDeadline fired. Return nothing or
     * "close" to close (connectionLost gets EIDLETIMEOUT or EDEADLINE), or an
     * Action to go on; an idle timer then counts again. */
    timedOut(kind: TimerKind): Action | void;
    private handle;
}
