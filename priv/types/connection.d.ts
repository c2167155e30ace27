import type { ClientInfo, LogLevel, BatchAction } from "./types";
import type { ConnectionHandle, Peer, Protocol, TimerKind } from "./protocol";
import type { Clock } from "./clock";
import type { ProtocolTable } from "./protocol-table";
import type { Transport, Upstream } from "./transport";
import type { Traffic } from "./fd-transport";
export type ConnectionState = "opening" | "reading" | "writing" | "paused" | "closed";
/** What a connection needs from its engine. */
export interface ConnectionHost {
    readonly protocols: ProtocolTable;
    readonly clock: Clock;
    /** ms a handler's Promise may stay pending (0 = none) */
    readonly callbackTimeout: number;
    /** writeBuffer bytes past which the connection stops reading (0 = none) */
    readonly writeHighWater: number;
    act(id: number, wire: BatchAction): void;
    log(level: LogLevel, id: number, text: string): void;
    /** a protocol or a peer did something wrong */
    countError(): void;
    /** a protocol callback threw: counted, logged with `text`, reported */
    exception(id: number, callback: string, error: unknown, text: string): void;
    /** settled outside a dispatch: flush soon */
    wake(): void;
    /** the connection closed: drop it from the table */
    forget(conn: Connection, reason: Error | undefined): void;
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
    closed: boolean;
    paused: boolean;
    lastActive: number;
    /** what the protocol wants armed next (read or write) */
    private next;
    /** connectionMade ran: the stack opened */
    private made;
    private eof;
    /** Erlang knows the connection (its ack was sent): a close is told */
    private announced;
    private settling;
    /** WRITE was armed for a layer's bytes (ciphertext), not for the protocol */
    private armedForLayers;
    /** the protocol's own timers: the idle one counts from the last data */
    private readonly timers;
    private lastData;
    /** when the handoff arrived (engine clock, ms) */
    readonly since: number;
    constructor(id: number, 
    /** the code serving it; a reload's adopt hook may hand it to new code */
    proto: Protocol, top: Transport, host: ConnectionHost, 
    /** the raw fd read behind Protocol.read */
    rawRead: (size: number) => Buffer | null, 
    /** this connection's bytes on the fd */
    traffic?: Traffic);
    /** What it is doing, for reactor_context:connections/1. */
    get state(): ConnectionState;
    /** The handoff: a stack that is open already runs connectionMade now and
     * its first action is the ack; one that opens later (a PROXY header, a TLS
     * handshake) starts reading for it. */
    start(): Start;
    readable(): void;
    writable(): void;
    /** New code takes over (a reload's adopt hook): the fd, the peer and every
     * byte not yet written move to `next`; the old Protocol is detached. */
    swap(next: Protocol): void;
    /** The protocol, a layer, Erlang, the engine's stop or idle sweep closes it. */
    close(reason?: Error, tellErlang?: boolean): void;
    /** Bytes taken from the protocol that the kernel has not taken yet. */
    get unsent(): number;
    open(patch: Partial<ClientInfo>): void;
    data(buf: Buffer, from?: Peer): void;
    end(): void;
    error(e: Error, logText?: string): void;
    wake(): void;
    wantsMore(): boolean;
    dropped(size: number, from: Peer): void;
    read(size: number): Buffer | null;
    writev(bufs: Uint8Array[]): number;
    sendTo(data: Uint8Array, addr: string, port: number): number;
    shutdownWrite(): void;
    setTimer(kind: TimerKind, ms: number): void;
    /** An idle timer that fires early (data came since it was set) waits the
     * rest: data never touches a timer, so it costs nothing per read. */
    private timerFired;
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
    /** Action -> what to arm; null when the action was invalid (closed). */
    private toWire;
    private queued;
    private touch;
    private handlerFailed;
}
