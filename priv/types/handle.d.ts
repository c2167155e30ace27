import type { TLSSocket } from "tls";
import type { SocketAddress, SocketOption } from "./addon";
import type { Clock } from "./clock";
import type { Connection } from "./connection";
import type { ConnectionHost } from "./connection-host";
import type { RawFd } from "./fd-transport";
import type { ConnectionHandle, ConnRef, TimerKind } from "./protocol";
import type { Transport } from "./transport";
import type { TlsInfo } from "./types";
export declare class Handle implements ConnectionHandle {
    private readonly conn;
    private readonly top;
    private readonly host;
    /** the fd under the layers: Protocol.read, socket options, addresses */
    private readonly raw;
    constructor(conn: Connection, top: Transport, host: ConnectionHost, 
    /** the fd under the layers: Protocol.read, socket options, addresses */
    raw: RawFd);
    get clock(): Clock;
    get tlsSocket(): TLSSocket | undefined;
    get ref(): ConnRef;
    read(size: number): Buffer | null;
    /** Protocol.write: what the kernel takes now, the rest into writeBuffer
     * behind what waits there already (so the bytes keep their order); the
     * connection arms WRITE for it. A datagram goes now or not at all. */
    write(b: Uint8Array): boolean;
    writev(bufs: Uint8Array[]): number;
    sendTo(data: Uint8Array, addr: string, port: number): number;
    shutdownWrite(): void;
    /** Protocol.startTls: what writeBuffer holds goes out in clear before
     * TLS, then the stack's STARTTLS layer runs the handshake; the connection
     * arms for it at once, in a handler or outside one. */
    startTls(): Promise<TlsInfo>;
    setTimer(kind: TimerKind, ms: number): void;
    join(group: Buffer): Promise<void>;
    leave(group: Buffer): void;
    readStop(): void;
    readStart(): void;
    setSocketOption(name: SocketOption, value: number): boolean;
    socketAddress(peer: boolean): SocketAddress | null;
    close(reason?: Error): void;
    destroy(reason?: Error): void;
}
