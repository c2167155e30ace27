import type { ClientInfo, LogLevel, BatchAction } from "./types";
import type { ConnectionHandle, Peer, Protocol, TimerKind } from "./protocol";
import type { Clock } from "./clock";
import type { ProtocolTable } from "./protocol-table";
import type { Transport, Upstream } from "./transport";
import type { Traffic } from "./fd-transport";
import { CloseBounds } from "./closing";
export type ConnectionState = "opening" | "reading" | "writing" | "paused" | "closing" | "closed";
/** What a connection needs from its engine. */
export interface ConnectionHost {
    readonly protocols: ProtocolTable;
    readonly clock: Clock;
    /** ms a handler's Promise may stay pending (0 = none) */
    readonly callbackTimeout: number;
    /** writeBuffer bytes past which the connection stops reading (0 = none) */
    readonly writeHighWater: number;
    /** how long a graceful close may take, and its lingering read */
    readonly closeBounds: CloseBounds;
    act(id: number, action: BatchAction): void;
    log(level: LogLevel, id: number, text: string): void;
    /** a protocol or a peer did something wrong */
    countError(): void;
    /** a protocol callback threw: counted, logged with `text`, reported */
    exception(id: number, callback: string, error: unknown, text: string): void;
    /** settled outside a dispatch: flush soon */
    wake(): void;
    /** the protocol's connection is over (connectionLost runs next) */
    lost(conn: Connection, reason: Error | undefined): void;
    /** the fd is released: drop the connection from the table */
    forget(conn: Connection): void;
}
/** How a handoff starts: the first action for the ack, or why it is refused. */
export type Start = {
    ack: BatchAction;
} | {
    nack: "connection_made_failed" | "invalid_action";
};
export declare class Connection implements Upstream, ConnectionHandle {
    readonly id: number;
    /** the code serving it; a reload's adopt hook may hand it to new code */
    proto: Protocol;
    private readonly top;
    private readonly host;
    /** the raw fd read behind Protocol.read */
    private readonly rawRead;
    /** this connection's bytes on the fd */
    readonly traffic: Traffic;
    paused: boolean;
    lastActive: number;
    /** what the protocol wants armed next (read or write) */
    private next;
    /** connectionMade ran: the stack opened */
    private made;
    private eof;
    private readonly ending;
    private settling;
    /** WRITE was armed for a layer's bytes (ciphertext), not for the protocol */
    private armedForLayers;
    /** the protocol's own timers */
    private readonly timers;
    /** when the handoff arrived (engine clock, ms) */
    readonly since: number;
    constructor(id: number, 
    /** the code serving it; a reload's adopt hook may hand it to new code */
    proto: Protocol, top: Transport, host: ConnectionHost, 
    /** the raw fd read behind Protocol.read */
    rawRead: (size: number) => Buffer | null, 
    /** this connection's bytes on the fd */
    traffic?: Traffic);
    /** A close began: the protocol gets no more callbacks. */
    get closed(): boolean;
    /** What it is doing, for reactor_context:connections/1. */
    get state(): ConnectionState;
    /** The handoff: a stack that is open already runs connectionMade now and
     * its first action is the ack; one that opens later (a PROXY header, a TLS
     * handshake) starts reading for it. `preread`: bytes read before the
     * handoff wait at the bottom of the stack; they are read now, before the
     * ack, so the ack says what the protocol wants after them. */
    start(preread?: boolean): Start;
    readable(): void;
    writable(): void;
    /** Graceful close (Node's socket.end()): what the protocol queued goes
     * out, then close_notify and the FIN, connectionLost(reason) runs, then a
     * lingering read (closing.ts). The protocol's "close", close() and timers. */
    close(reason?: Error): void;
    /** Abortive close (Node's socket.destroy()): what is queued is dropped, the
     * fd closes now. Errors, Erlang, the engine's stop and idle sweep. */
    destroy(reason?: Error, tellErlang?: boolean): void;
    /** Bytes taken from the protocol that the kernel has not taken yet. */
    get unsent(): number;
    open(patch: Partial<ClientInfo>): void;
    data(buf: Buffer, from?: Peer): void;
    end(): void;
    error(e: Error, logText?: string): void;
    wake(): void;
    wantsMore(): boolean;
    dropped(size: number, from: Peer): void;
    /** One datagram failed; the socket serves on (a throw here is logged, not fatal). */
    datagramError(e: Error, to?: Peer): void;
    read(size: number): Buffer | null;
    writev(bufs: Uint8Array[]): number;
    sendTo(data: Uint8Array, addr: string, port: number): number;
    shutdownWrite(): void;
    setTimer(kind: TimerKind, ms: number): void;
    /** A protocol timer ran out: timedOut says close (graceful: a 408 it
     * queued goes out) or go on. */
    private timedOut;
    /** Arm what the protocol wants, once the layers have what they need. A
     * layer that works on its own tick (TLS) settles there instead. */
    private settle;
    private settleIfLater;
    private settleSoon;
    private arm;
    /** What a handler said: close now, or remember what to arm. */
    private apply;
    private connectionMade;
    /** Runs a protocol callback with its connection named in what it logs; a
     * throw ends the connection (logged) and gives FAILED. */
    private call;
    /** Runs a handler: what to arm next, or null when nothing is to be armed
     * now (its Promise is pending, or the connection ended). */
    private step;
    /** "write_pending" from a read handler: the fd can nearly always take bytes
     * now, so writeReady runs at once and WRITE is armed only if it asks again
     * (the kernel took less than everything). One round trip instead of two. */
    private writeAtOnce;
    /** Nothing is armed until the Promise settles. */
    private pause;
    /** Action -> what to arm; null when the action was invalid (destroyed). */
    private toBatchAction;
    private queued;
    private touch;
    private handlerFailed;
}
