import type { Clock } from "./clock";
import type { Connection, ConnectionHost } from "./connection";
import type { OutgoingDatagram, WriteBuffer } from "./protocol";
import type { Transport } from "./transport";
import type { BatchAction } from "./types";
/** The end of one connection: its flags, and the graceful close under way
 * (whose CloseHost it is). */
export declare class Ending implements CloseHost {
    private readonly conn;
    private readonly top;
    private readonly host;
    /** a close began: the protocol gets no more callbacks */
    closed: boolean;
    /** the fd is closed and Erlang told: nothing is left */
    released: boolean;
    /** a graceful close under way (flushing, then lingering) */
    closing: Closing | undefined;
    /** Erlang knows the connection (its ack was sent): what to arm is told */
    private announced;
    /** what a close begun in connectionMade wants armed: the ack says it */
    private unannounced;
    private lost;
    /** the graceful close's reason, for connectionLost once the FIN is out */
    private reason;
    constructor(conn: Connection, top: Transport, host: ConnectionHost);
    /** The handoff's ack: the first action, or what a close begun in
     * connectionMade (returned, or this.close()) arms. */
    announce(first: BatchAction): BatchAction;
    /** Graceful: flush, close_notify, FIN, connectionLost(reason), linger
     * (unless the peer's end came already, or the fd is no socket: `lingers` false). */
    close(reason: Error | undefined, lingers: boolean): void;
    arm(action: "read_pending" | "write_pending"): void;
    finished(): void;
    done(reason?: Error): void;
    handOver(): void;
    /** Abortive: the fd closes now, connectionLost(reason) runs if it has not. */
    destroy(reason: Error | undefined, tellErlang: boolean): void;
    /** Node's copy of the fd closes and the connection is forgotten; Erlang
     * is told `action` (close, or linger on its own copy). */
    private release;
    /** What to arm, to Erlang; before the handoff's ack, into it. */
    tell(action: BatchAction): void;
    private stop;
    private lose;
}
/** A context's bounds on graceful closes (reactor_config's close_timeout,
 * linger_timeout, linger_max_bytes; defaults in limits.ts). */
export interface CloseBounds {
    /** ms the peer has to take what is queued at the close, the close_notify
     * and the FIN, before the connection is cut (ECLOSETIMEOUT); 0 = no bound */
    closeTimeout: number;
    /** ms a closed connection reads and drops what the peer still sends after
     * our FIN, unless the peer's own end comes first; 0 = no lingering close */
    lingerTimeout: number;
    /** bytes it drops at most before it closes anyway; 0 = no bound but the time */
    lingerMaxBytes: number;
    /** Erlang's poller lingers on its copy of the fd (the "linger" action):
     * Node's closes once the FIN is out */
    pollerLingers: boolean;
}
/** What a close tells its connection. */
export interface CloseHost {
    /** Arm the fd: WRITE while bytes wait, READ while lingering. */
    arm(action: "read_pending" | "write_pending"): void;
    /** Everything the protocol queued is out, then the FIN: its connection is over. */
    finished(): void;
    /** The close is over: release the fd (cut short with `reason`). */
    done(reason?: Error): void;
    /** The FIN is out and the peer's end has not come: Node's part is over,
     * the poller lingers (CloseBounds.pollerLingers). */
    handOver(): void;
}
/** The bytes a protocol queued (its writeBuffer and datagrams). */
export interface Queued {
    readonly writeBuffer: WriteBuffer;
    readonly datagrams: OutgoingDatagram[];
}
/** A graceful close: flushing until the FIN is out, then lingering. */
export declare class Closing {
    private readonly top;
    private readonly queued;
    private readonly bounds;
    private readonly clock;
    /** read and drop after the FIN: not after the peer's EOF, nor on datagrams */
    private readonly lingers;
    private readonly host;
    /** "flushing" until the FIN is out, then "lingering" */
    phase: "flushing" | "lingering";
    private timer;
    private dropped;
    private over;
    /** when the close began (clock ms): close_timeout counts from it */
    private readonly began;
    constructor(top: Transport, queued: Queued, bounds: CloseBounds, clock: Clock, 
    /** read and drop after the FIN: not after the peer's EOF, nor on datagrams */
    lingers: boolean, host: CloseHost);
    /** close_timeout's timer, set the first time the close has to wait (most
     * closes finish in their first run, and set none). */
    private bound;
    /** Moves the close on: at the start, on WRITE and when a layer wakes. */
    run(): void;
    /** READ: while lingering, what is there is dropped; the peer's end ends it. */
    readable(): void;
    /** The connection was released another way (an error, Erlang, a stop). */
    dispose(): void;
    /** The protocol's bytes into the stack, as much as it takes now; whether
     * some are left. */
    private push;
    private end;
    private timedOut;
}
