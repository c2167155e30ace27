import type { Connection } from "./connection";
/** Where joins and leaves are told: Erlang, or a test harness. */
export interface GroupSink {
    joined(id: number, group: Buffer): void;
    left(id: number, group: Buffer): void;
}
export declare class Groups {
    private readonly sink;
    /** group -> its member connections, by id */
    private readonly members;
    /** connection id -> the groups it is in, their names */
    private readonly of;
    /** "id key" -> a join Erlang has not acknowledged (joinedOnErlang) */
    private readonly unacked;
    constructor(sink: GroupSink);
    /** `conn` joins `group`; joining twice is joining once. Resolves once
     * Erlang says its context is in the pg group (joinedOnErlang), or the
     * connection has left it (it ended): never rejects.
     * @throws RangeError past MAX_GROUPS_PER_CONNECTION groups. */
    join(conn: Connection, group: Buffer): Promise<void>;
    /** Erlang's context joined the pg group for connection `id`'s join. */
    joinedOnErlang(id: number, group: Buffer): void;
    private settle;
    /** `conn` leaves `group`; a group it is not in, nothing happens. */
    leave(conn: Connection, group: Buffer): void;
    /** `conn` leaves every group it is in (it is ending). */
    leaveAll(conn: Connection): void;
    /** The connections in `group` now (a copy: delivering may change it). */
    membersOf(group: Buffer): Connection[];
    /** The names of the groups `id` is in. */
    groupsOf(id: number): Buffer[];
    /** Groups with a member. */
    get size(): number;
}
