import { ManualClock } from "./clock";
import { Protocol } from "./protocol";
import { Reactor } from "./reactor";
import type { Server } from "net";
import type { SocketOption } from "./addon";
import type { ClientInfo, LogLevel, NackReason, BatchAction } from "./types";
import type { Encodable } from "./term-types";
export interface HarnessOptions {
    /** what the protocol gets as clientInfo (default: a TCP peer on 127.0.0.1) */
    clientInfo?: ClientInfo;
    /** a PROXY protocol header comes first */
    proxyProtocol?: boolean;
    /** bytes the peer sent before the handoff, as a client that speaks first
     * does: the engine reads them at the handoff, right after connectionMade */
    sentBeforeHandoff?: string | Uint8Array;
    /** the context options of the same names */
    readSize?: number;
    writeHighWater?: number;
    callbackTimeout?: number;
    idleTimeout?: number;
    closeTimeout?: number;
    lingerTimeout?: number;
    lingerMaxBytes?: number;
    maxQueuedMessages?: number;
}
export interface LogLine {
    level: LogLevel;
    text: string;
}
/** Bytes to feed: the whole, or cut into the reads a slow network makes. */
export interface FeedOptions {
    /** cut at these offsets: each piece is a read of its own */
    at?: number[];
    /** cut every `every` bytes (1: byte by byte) */
    every?: number;
}
/** One connection of a Protocol, in the real engine, over an fd in memory. */
export declare class ProtocolHarness<P extends Protocol = Protocol> {
    /** time as the engine sees it: advance() moves it */
    readonly clock: ManualClock;
    /** each thing the engine armed or did for the connection, in order */
    readonly actions: BatchAction[];
    /** what the engine logged (invalid actions, throws, timeouts) */
    readonly logs: LogLine[];
    /** set once the connection ended: connectionLost's reason (undefined: a clean close) */
    lost: {
        reason: Error | undefined;
    } | undefined;
    /** set when the handoff itself was refused (connectionMade threw, or returned nonsense) */
    refused: NackReason | undefined;
    /** the groups the connection is in now, as Erlang would know them */
    readonly groups: Set<string>;
    /** every join and leave told to Erlang, in order */
    readonly groupLog: ["join" | "leave", string][];
    private readonly fd;
    private readonly reactor;
    private readonly protocols;
    private armed;
    private taken;
    private pumping;
    private scheduled;
    constructor(protocol: (new () => P) | (() => P) | Server, opts?: HarnessOptions);
    /** The Protocol instance serving the connection. */
    get protocol(): P;
    private last;
    /** The connection has ended (either side closed it). */
    get closed(): boolean;
    /** Bytes from the peer: whole, or cut into separate reads. */
    feed(data: string | Uint8Array, opts?: FeedOptions): this;
    /** One datagram from `addr:port` (a UDP connection: clientInfo type "udp"). */
    feedDatagram(data: string | Uint8Array, from: {
        addr: string;
        port: number;
    }): this;
    /** The peer closed its side (EOF). */
    end(): this;
    /** The peer stops reading after `bytes` more (a slow reader: writes go partial). */
    slowPeer(bytes: number): this;
    /** The peer reads everything again: WRITE is delivered if the engine armed it. */
    drain(): this;
    /** Everything the peer received. */
    written(): Buffer;
    /** What the peer received since the last take(), as a string (UTF-8). */
    take(): string;
    /** Datagrams sent with sendTo. */
    sentDatagrams(): {
        data: Buffer;
        addr: string;
        port: number;
    }[];
    /** The socket options the connection set (setNoDelay: `nodelay`,
     * setKeepAlive: `keepalive`, `keepidle` in seconds), as getsockopt would
     * read them back. */
    get socketOptions(): Readonly<Partial<Record<SocketOption, number>>>;
    /** The peer sees the end of what we send (shutdownWrite or a close). */
    get peerSawEnd(): boolean;
    /** Let pending Promises (async handlers) settle and their results take effect. */
    settle(): Promise<this>;
    /** Move the engine's time forward: timeouts that fall due fire, in order. */
    advance(ms: number): Promise<this>;
    /** Erlang sends the connection a message (reactor:send/2 to its ref):
     * `messageReceived` gets `term` as it would from Erlang, encoded and
     * decoded as the bridge does (so a string arrives as a Buffer, a safe
     * integer as a number; docs/bridge.md). */
    message(term: Encodable): this;
    /** Erlang publishes to `group` (reactor:publish/2): the connection's
     * messageReceived gets the term if it is in the group. */
    publish(group: string | Uint8Array, term: Encodable): this;
    /** The engine's counters, as reactor_context:info/1 gets them from Node. */
    stats(): ReturnType<Reactor["stats"]>;
    /** Erlang closes the connection (a stop, a limit). */
    closeFromErlang(why?: string): this;
    private arm;
    private pumpSoon;
    /** Deliver every event that is due, as enif_select would, one at a time.
     * Not corked as the port's slices are (cork.ts): a write here meets the
     * slow peer at once, so a protocol's own backpressure (writeBuffer,
     * writeReady, 'drain') can be driven step by step. */
    private pump;
}
/** Open a connection of `protocol` in a harness: a Protocol class, a
 * factory, or a stream handler (a net.Server such as `http.createServer(app)`:
 * its 'connection' gets the connection's Socket). */
export declare function connect<P extends Protocol>(protocol: (new () => P) | (() => P), opts?: HarnessOptions): ProtocolHarness<P>;
export declare function connect(server: Server, opts?: HarnessOptions): ProtocolHarness;
export type { ClientInfo, BatchAction };
export { stubBeam } from "./beam-stub";
export type { BeamFunction, BeamStub, StubbedCall } from "./beam-stub";
/** @deprecated The old name of {@link BatchAction}. */
export type WireAction = BatchAction;
