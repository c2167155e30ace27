export interface ReceivedFds {
    ids: number[];
    fds: number[];
    /** MSG_CTRUNC: fds past fds.length did not arrive (fd limit) */
    truncated: boolean;
}
export interface Datagram {
    /** bytes in the buffer */
    n: number;
    /** the datagram's real size: larger than n when it did not fit */
    size: number;
    addr: string;
    port: number;
}
/** The socket options a connection may set, by the names the addon's fixed
 * table gives them (native/addon/sockopt.cc): TCP_NODELAY, SO_KEEPALIVE,
 * TCP_KEEPIDLE / TCP_KEEPINTVL (seconds), TCP_KEEPCNT, SO_SNDBUF, SO_RCVBUF. */
export type SocketOption = "nodelay" | "keepalive" | "keepidle" | "keepintvl" | "keepcnt" | "sndbuf" | "rcvbuf";
/** An IP socket's end, as Node's `socket.address()` gives it. */
export interface SocketAddress {
    address: string;
    family: "IPv4" | "IPv6";
    port: number;
}
export interface Io {
    /** bytes read, 0 at EOF, -1 when nothing is there (EAGAIN) */
    readInto(fd: number, buf: Buffer, offset: number, length: number): number;
    /** bytes written, 0 when the kernel takes nothing now (EAGAIN) */
    writev(fd: number, bufs: Uint8Array[]): number;
    /** writev's one buffer: `length` bytes of `buf` from `offset` */
    write(fd: number, buf: Uint8Array, offset: number, length: number): number;
    /** how: 0 read side, 1 write side, 2 both */
    shutdown(fd: number, how: 0 | 1 | 2): void;
    close(fd: number): void;
    /** one datagram, or null when none is there */
    recvFrom(fd: number, buf: Buffer, offset: number, length: number): Datagram | null;
    /** bytes sent (the whole datagram, maybe empty), -1 when the kernel takes nothing now */
    sendTo(fd: number, buf: Uint8Array, addr: string, port: number): number;
    /** setsockopt with an int; throws the errno (EOPNOTSUPP on a Unix socket's TCP option) */
    setSocketOption(fd: number, name: SocketOption, value: number): void;
    /** getsockopt's int (SO_SNDBUF and SO_RCVBUF read back twice what was set) */
    getSocketOption(fd: number, name: SocketOption): number;
    /** the peer's end (getpeername) or ours (getsockname); null when not an IP socket */
    socketAddress(fd: number, peer: boolean): SocketAddress | null;
}
export interface Addon extends Io {
    connectChannel(path: string): number;
    recvFds(channelFd: number): ReceivedFds | null;
    /** Move the frame stream off fd 1 (which becomes stderr); returns its new fd. */
    takeStdout(): number;
    /** Once Erlang's end of stdin closes, give the event loop `graceMs` to end
     * the process, then end it with exit status 70 (a native thread: a loop
     * stuck in JavaScript cannot leave an orphan). */
    watchStdin(graceMs: number): void;
    /** Blocking write of every byte. */
    writeAll(fd: number, buf: Uint8Array): void;
    /** Blocks up to `ms` for fd to be readable. */
    waitReadable(fd: number, ms: number): boolean;
    /** One packet into buf: its real size (> buf.length when cut), 0 when the
     * peer closed, -1 when none is queued. */
    recvPacket(fd: number, buf: Uint8Array): number;
    /** Up to sizes.length packets in one call (recvmmsg): packet i at buf[i * slot],
     * sizes[i] its size (slot + 1 when cut). Returns how many; 0 when none is
     * queued, -1 when the peer closed. */
    recvPackets(fd: number, buf: Uint8Array, slot: number, sizes: Uint32Array): number;
    /** One packet of buf's first `length` bytes; false when the peer's queue is full. */
    sendPacket(fd: number, buf: Uint8Array, length: number): boolean;
    /** libuv watches fd (made non-blocking): `onEvents` gets 1 readable, 2
     * writable (while wantWritable), 4 broken. It does one unit of work per
     * call (a frame, a slice of a ready batch) and returns true while more waits:
     * it is called again at once with 0, each call a callback of its own, so
     * the ticks and microtasks one unit queued run before the next, as after
     * each of Node's own I/O callbacks. */
    watch(fd: number, onEvents: (events: number) => boolean): void;
    /** libuv stops watching fd (left open); its callback is not called again. */
    unwatch(fd: number): void;
    /** Also tell fd's callback when it is writable. */
    wantWritable(fd: number, on: boolean): void;
}
/** The addon sits next to the bundle in priv/ (or is named by REACTOR_ADDON). */
export declare function addon(): Addon;
