import type { Io } from "./addon";
import type { ClientInfo, LogLevel, NackReason, Stats, TransportSpec, BatchAction } from "./types";
import { Clock } from "./clock";
import type { CloseBounds } from "./closing";
import { Connection, ConnectionHost, ConnectionState } from "./connection";
import { WriteCork } from "./cork";
import { AdoptHook, ProtocolTable } from "./protocol-table";
import { TlsOptions } from "./tls-config";
import { GroupSink } from "./groups";
import type { ConnRef } from "./protocol";
import { Pid, Term } from "./term-types";
/** Where the engine's answers go; the port's Outbox gathers them into port
 * frames and action batches. The groups' joins and leaves go to Erlang too
 * (reactor_groups.erl). */
export interface Sink extends GroupSink {
    /** `drained`: the fd's last read drained it (RawFd.drained) */
    act(id: number, action: BatchAction, drained?: boolean): void;
    ack(id: number, action: BatchAction): void;
    nack(id: number, reason: NackReason): void;
    log(level: LogLevel, id: number | null, text: string): void;
    /** Something settled outside a frame's dispatch: flush soon. */
    wake(): void;
}
export interface ReactorOptions {
    /** the most bytes one read takes; each connection's reads adapt up to it */
    readSize?: number;
    /** a connection whose writeBuffer holds this many bytes stops reading until
     * it drains below it (0 = unbounded) */
    writeHighWater?: number;
    /** ms a handler's Promise may stay pending before its connection is closed (0 = none) */
    callbackTimeout?: number;
    /** ms without an event before a connection is closed (0 = none) */
    idleTimeout?: number;
    /** ms a graceful close may wait for the peer to take the last bytes before
     * it cuts the connection (0 = none) */
    closeTimeout?: number;
    /** ms a closed connection reads and drops what the peer still sends after
     * our FIN, so that the peer reads our answer instead of a reset (0 = none) */
    lingerTimeout?: number;
    /** bytes that lingering read drops at most (0 = only the time bounds it) */
    lingerMaxBytes?: number;
    /** the sink's far end lingers instead of Node (Erlang's poller: the
     * "linger" action); false: Node reads and drops itself, as the test
     * harness, which has no poller, does */
    pollerLingers?: boolean;
    /** messages a connection holds while its protocol does not take them; one
     * more destroys it (EMESSAGEOVERFLOW) */
    maxQueuedMessages?: number;
    /** time for every timeout (the test harness moves it by hand) */
    clock?: Clock;
    /** told of every connection that ends, with connectionLost's reason */
    onClose?: (id: number, reason: Error | undefined, summary: ClosedSummary) => void;
    /** told of every protocol callback that throws */
    onException?: (id: number, callback: string, error: unknown) => void;
}
/** A connection that ended: its bytes on the fd and how long it lived (ms). */
export interface ClosedSummary {
    bytesIn: number;
    bytesOut: number;
    durationMs: number;
}
/** One live connection, as reactor_context:connections/1 reports it. */
export interface ConnectionSummary extends ClosedSummary {
    id: number;
    state: ConnectionState;
}
export declare class Reactor implements ConnectionHost {
    readonly io: Io;
    readonly sink: Sink;
    /** the protocol factory, the fd -> Protocol map, the running connection */
    readonly protocols: ProtocolTable;
    events: number;
    errors: number;
    readonly callbackTimeout: number;
    readonly writeHighWater: number;
    readonly closeBounds: CloseBounds;
    readonly maxQueuedMessages: number;
    readonly clock: Clock;
    /** the context's pid: what connection refs name (beam.self()) */
    self: Pid | undefined;
    /** messages the protocols took (messageReceived ran) */
    private messagesDelivered;
    /** messages for a connection that had ended, or ended before it took them */
    private sentToEnded;
    private readonly groups;
    private readonly onClose?;
    private readonly onException?;
    /** bytes of the connections that ended (live ones count their own) */
    private readonly closedTraffic;
    private readonly conns;
    private readonly slab;
    /** writes made while a slice of ready connections is served go out at its end */
    readonly cork: WriteCork;
    private readonly readSize;
    private readonly idleTimeout;
    private readonly sweeper?;
    /** TLS configurations by the key Erlang gave them (or why one failed) */
    private readonly tlsConfigs;
    constructor(io: Io, sink: Sink, 
    /** the protocol factory, the fd -> Protocol map, the running connection */
    protocols: ProtocolTable, opts?: ReactorOptions);
    /** Stop the idle sweeper (the port exits instead; tests call this). */
    dispose(): void;
    /** A TLS configuration that handoffs name by `key`; one that cannot be made
     * refuses those handoffs (tls_config_failed) with its reason logged. */
    addTlsConfig(key: number, opts: TlsOptions): Error | undefined;
    get size(): number;
    stats(): Stats;
    /** Every live connection: id, bytes, age, what it waits for. */
    connections(): ConnectionSummary[];
    handoff(id: number, fd: number, info: ClientInfo, spec?: TransportSpec): void;
    readReady(id: number): void;
    writeReady(id: number): void;
    /** A message from Erlang for connection `id` (reactor:send/2); one for a
     * connection that has ended is dropped and counted (sent_to_ended). */
    message(id: number, term: Term): void;
    /** A publish to `group` (reactor:publish/2, beam.publish): Erlang sends
     * the context one, and every member connection here gets the term. */
    publish(group: Buffer, term: Term): void;
    /** Erlang closed the connection (its copy is already gone). */
    closeFromErlang(id: number, why: string): void;
    /** After a reload: offer every live connection to the new code's adopt
     * hook. One whose handler is still pending finishes on the old code; a hook
     * that throws or declines leaves it there too. Returns how many moved. */
    adopt(hook: AdoptHook): number;
    /** Graceful stop: every protocol gets connectionLost, every fd is closed. */
    closeAll(reason: Error): void;
    act(id: number, action: BatchAction, drained?: boolean): void;
    log(level: LogLevel, id: number, text: string): void;
    countError(): void;
    exception(id: number, callback: string, error: unknown, text: string): void;
    wake(): void;
    closing(conn: Connection, dropped: number): void;
    messagesDropped(n: number): void;
    delivered(): void;
    refOf(id: number): ConnRef;
    join(conn: Connection, group: Buffer): Promise<void>;
    /** Erlang's context is in the pg group of connection `id`'s join. */
    joinedOnErlang(id: number, group: Buffer): void;
    leave(conn: Connection, group: Buffer): void;
    lost(conn: Connection, reason: Error | undefined): void;
    forget(conn: Connection): void;
    private newProtocol;
    private refuse;
    private closeIdle;
}
