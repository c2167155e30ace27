// A Sink (what the engine answers with) that records everything, for the
// engine's tests; the port's own Sink is the Outbox (ts/outbox.ts).
import type { LogLevel, BatchAction } from "../../ts/types";
import type { Sink } from "../../ts/reactor";

export class RecordingSink implements Sink {
  acts: [number, BatchAction][] = [];
  /** for each of `acts`, whether it said the fd was drained (RawFd.drained) */
  drained: boolean[] = [];
  acks: [number, BatchAction][] = [];
  nacks: [number, string][] = [];
  logs: [LogLevel, number | null, string][] = [];
  wakes = 0;
  /** joins and leaves told to Erlang, in order: [id, "join" | "leave", group] */
  groups: [number, "join" | "leave", string][] = [];
  act(id: number, a: BatchAction, drained = false): void {
    this.acts.push([id, a]);
    this.drained.push(drained);
  }
  ack(id: number, a: BatchAction): void {
    this.acks.push([id, a]);
  }
  nack(id: number, r: string): void {
    this.nacks.push([id, r]);
  }
  log(level: LogLevel, id: number | null, text: string): void {
    this.logs.push([level, id, text]);
  }
  wake(): void {
    this.wakes++;
  }
  joined(id: number, group: Buffer): void {
    this.groups.push([id, "join", group.toString()]);
  }
  left(id: number, group: Buffer): void {
    this.groups.push([id, "leave", group.toString()]);
  }
}
