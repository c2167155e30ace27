// The groups of one context's connections (Protocol.join): which are in
// each, for a publish to reach them, told to Erlang as it changes, so that
// the context is in the pg group while any of its connections is
// (reactor_groups.erl). A group is its name's bytes: a string joins as its
// UTF-8, and Erlang names it by the same binary.
import type { Connection } from "./connection";
import { MAX_GROUPS_PER_CONNECTION } from "./limits";

/** Where joins and leaves are told: Erlang, or a test harness. */
export interface GroupSink {
  joined(id: number, group: Buffer): void;
  left(id: number, group: Buffer): void;
}

/** Map keys: the name's bytes one char each, any bytes exactly. */
const keyOf = (group: Buffer): string => group.toString("latin1");

/** A join Erlang has not acknowledged yet: what resolves its Promise. */
interface Pending {
  done: Promise<void>;
  resolve(): void;
}

export class Groups {
  /** group -> its member connections, by id */
  private readonly members = new Map<string, Map<number, Connection>>();
  /** connection id -> the groups it is in, their names */
  private readonly of = new Map<number, Map<string, Buffer>>();
  /** "id key" -> a join Erlang has not acknowledged (joinedOnErlang) */
  private readonly unacked = new Map<string, Pending>();

  constructor(private readonly sink: GroupSink) {}

  /** `conn` joins `group`; joining twice is joining once. Resolves once
   * Erlang says its context is in the pg group (joinedOnErlang), or the
   * connection has left it (it ended): never rejects.
   * @throws RangeError past MAX_GROUPS_PER_CONNECTION groups. */
  join(conn: Connection, group: Buffer): Promise<void> {
    const key = keyOf(group);
    let mine = this.of.get(conn.id);
    if (mine?.has(key)) return this.unacked.get(`${conn.id} ${key}`)?.done ?? Promise.resolve();
    if ((mine?.size ?? 0) >= MAX_GROUPS_PER_CONNECTION)
      throw new RangeError(`a connection is in at most ${MAX_GROUPS_PER_CONNECTION} groups`);
    if (!mine) this.of.set(conn.id, (mine = new Map()));
    mine.set(key, group);
    let m = this.members.get(key);
    if (!m) this.members.set(key, (m = new Map()));
    m.set(conn.id, conn);
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    this.unacked.set(`${conn.id} ${key}`, { done, resolve });
    this.sink.joined(conn.id, group);
    return done;
  }

  /** Erlang's context joined the pg group for connection `id`'s join. */
  joinedOnErlang(id: number, group: Buffer): void {
    this.settle(`${id} ${keyOf(group)}`);
  }

  private settle(k: string): void {
    const p = this.unacked.get(k);
    if (!p) return;
    this.unacked.delete(k);
    p.resolve();
  }

  /** `conn` leaves `group`; a group it is not in, nothing happens. */
  leave(conn: Connection, group: Buffer): void {
    const key = keyOf(group);
    const mine = this.of.get(conn.id);
    const name = mine?.get(key);
    if (!mine || !name) return;
    mine.delete(key);
    if (mine.size === 0) this.of.delete(conn.id);
    const m = this.members.get(key)!;
    m.delete(conn.id);
    if (m.size === 0) this.members.delete(key);
    this.settle(`${conn.id} ${key}`); // nothing to wait for any more
    this.sink.left(conn.id, name);
  }

  /** `conn` leaves every group it is in (it is ending). */
  leaveAll(conn: Connection): void {
    const mine = this.of.get(conn.id);
    if (mine) for (const name of [...mine.values()]) this.leave(conn, name);
  }

  /** The connections in `group` now (a copy: delivering may change it). */
  membersOf(group: Buffer): Connection[] {
    const m = this.members.get(keyOf(group));
    return m ? [...m.values()] : [];
  }

  /** The names of the groups `id` is in. */
  groupsOf(id: number): Buffer[] {
    return [...(this.of.get(id)?.values() ?? [])];
  }

  /** Groups with a member. */
  get size(): number {
    return this.members.size;
  }
}
