import type { BatchAction, LogLevel } from "./types";
import type { Clock } from "./clock";
import type { CloseBounds } from "./closing";
import type { Connection } from "./connection";
import type { ConnRef } from "./protocol";
import type { ProtocolTable } from "./protocol-table";
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
    /** messages a connection holds for its protocol at most (max_queued_messages) */
    readonly maxQueuedMessages: number;
    /** What Erlang arms next; `drained`: the fd's last read drained it (RawFd.drained). */
    act(id: number, action: BatchAction, drained?: boolean): void;
    log(level: LogLevel, id: number, text: string): void;
    /** a protocol or a peer did something wrong */
    countError(): void;
    /** a protocol callback threw: counted, logged with `text`, reported */
    exception(id: number, callback: string, error: unknown, text: string): void;
    /** settled outside a dispatch: flush soon */
    wake(): void;
    /** a close began: the connection leaves its groups; `dropped` messages
     * that waited for it are gone */
    closing(conn: Connection, dropped: number): void;
    /** `n` messages came for a connection that has ended: dropped */
    messagesDropped(n: number): void;
    /** the protocol took a message (messageReceived ran) */
    delivered(): void;
    /** the address Erlang holds for connection `id` (reactor:conn_ref()) */
    refOf(id: number): ConnRef;
    /** resolves once Erlang's context is in the pg group (or the connection left it) */
    join(conn: Connection, group: Buffer): Promise<void>;
    leave(conn: Connection, group: Buffer): void;
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
