import type { ClientInfo } from "./types";
import type { ConnectionHost, ConnectionState, Start } from "./connection-host";
import { type ConnectionHandle, type Peer, type Protocol, type TimerKind } from "./protocol";
import type { Term } from "./term-types";
import type { Transport, Upstream } from "./transport";
import type { RawFd, Traffic } from "./fd-transport";
export type { ConnectionHost, ConnectionState, Start };
export declare class Connection implements Upstream {
    readonly id: number;
    /** the code serving it; a reload's adopt hook may hand it to new code */
    proto: Protocol;
    private readonly top;
    private readonly host;
    /** the fd under the layers (Protocol.read, socket options, drained) */
    private readonly raw;
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
    /** the protocol's own timers: made by its first setIdleTimeout or setDeadline */
    private timers;
    /** messages the protocol has not taken yet (it was paused, or behind on writes) */
    private inbox;
    /** protocol callbacks running now: a write() arms nothing then, their Action does */
    private running;
    /** write() left bytes in writeBuffer: WRITE is armed before READ until they are out */
    private owesFlush;
    /** what Erlang has armed, as told since the last event (one-shot: an event disarms) */
    private armedAs;
    /** the protocol paused reading (Protocol.pauseReading): READ is not armed */
    private readStopped;
    /** what the protocol sees of it (Protocol's own calls) */
    readonly handle: ConnectionHandle;
    /** when the handoff arrived (engine clock, ms) */
    readonly since: number;
    constructor(id: number, 
    /** the code serving it; a reload's adopt hook may hand it to new code */
    proto: Protocol, top: Transport, host: ConnectionHost, 
    /** the fd under the layers (Protocol.read, socket options, drained) */
    raw: RawFd, 
    /** this connection's bytes on the fd */
    traffic?: Traffic);
    /** The messages waiting for the protocol: made with the first message (most connections get none). */
    private openInbox;
    /** A close began: the protocol gets no more callbacks. */
    get closed(): boolean;
    /** What it is doing, for reactor_context:connections/1. */
    get state(): ConnectionState;
    /** The handoff: a stack that is open already runs connectionMade now and
     * its first action is the ack; one that opens later (a PROXY header, a TLS
     * handshake) starts reading for it. `preread`: bytes read before the
     * handoff wait at the bottom of the stack; they are read now, before the
     * ack, so the ack says what the protocol wants after them. A stream whose
     * protocol sent nothing yet is read now too: most clients speak first (a
     * request, a ClientHello, a PROXY header), and their bytes have usually
     * come by the time Node has the fd, so they are taken without a round
     * through Erlang's poller; one that greeted its peer waits for the answer.
     * A pipe or a tty is not read (its write end cannot be: EBADF). */
    start(preread?: boolean): Start;
    readable(): void;
    writable(): void;
    /** A message from Erlang (reactor:send/2, a publish to a group it is in):
     * taken now, or queued while a handler's Promise is pending or writeBuffer
     * is over the high water. Past max_queued_messages the connection is
     * destroyed, as Redis and NATS cut a slow subscriber: its peer sees the
     * loss instead of a silent gap. */
    message(term: Term): void;
    /** Graceful close (Node's socket.end()): what the protocol queued goes
     * out, then close_notify and the FIN, connectionLost(reason) runs, then a
     * lingering read (closing.ts). The protocol's "close", close() and timers. */
    close(reason?: Error): void;
    /** Abortive close (Node's socket.destroy()): what is queued is dropped, the
     * fd closes now. Errors, Erlang, the engine's stop and idle sweep. */
    destroy(reason?: Error, tellErlang?: boolean): void;
    /** Messages waiting for the protocol. */
    get queuedMessages(): number;
    /** Bytes taken from the protocol that the kernel has not taken yet. */
    get unsent(): number;
    open(patch: Partial<ClientInfo>): void;
    data(buf: Buffer, from?: Peer): void;
    end(): void;
    error(e: Error, logText?: string): void;
    wake(): void;
    wantsMore(): boolean;
    dropped(size: number, from: Peer): void;
    /** One datagram failed; the socket serves on. */
    datagramError(e: Error, to?: Peer): void;
    /** A callback that ends nothing: a throw is logged. */
    private notify;
    /** Protocol.write queued bytes (or a layer holds some): from outside a
     * callback, WRITE is armed now; in one, its Action arms it. */
    wrote(): void;
    setTimer(kind: TimerKind, ms: number): void;
    /** Protocol.pauseReading: READ is armed no more; writes go on. */
    readStop(): void;
    /** Protocol.resumeReading: READ is armed again, now or by the Action of
     * the callback that runs. */
    readStart(): void;
    /** A protocol timer ran out: timedOut says close (graceful: a 408 it
     * queued goes out) or go on. */
    private timedOut;
    /** Arm what the protocol wants, once the layers have what they need. A
     * layer that works on its own tick (TLS) settles there instead. */
    private settle;
    private settleIfLater;
    private settleSoon;
    private arm;
    private tell;
    /** RawFd.drained, for what a close arms (closing.ts). */
    get drained(): boolean;
    /** Whether a message can go to the protocol now. */
    private takesMessages;
    /** messageReceived: its "continue" keeps what the connection waits for. */
    private deliver;
    /** What a handler said: close now, or remember what to arm. */
    private apply;
    private connectionMade;
    /** Runs a protocol callback with its connection named in what it logs, and
     * in what it starts unless its class says otherwise; a throw ends the
     * connection (logged) and gives FAILED. */
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
