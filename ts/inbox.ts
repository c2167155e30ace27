// A connection's messages (messageReceived): the protocol takes each when it
// can, and the rest wait here, first in first out, up to a bound. What
// happens past the bound is the connection's policy (connection.ts: it is
// destroyed with EMESSAGEOVERFLOW).
import type { Term } from "./term-types";

export class Inbox {
  private items: (Term | undefined)[] = [];
  private head = 0;

  constructor(
    /** the most messages that wait */
    readonly max: number,
    /** whether the protocol takes a message now */
    private readonly takes: () => boolean,
    /** the protocol takes it (messageReceived) */
    private readonly take: (term: Term) => void,
  ) {}

  /** Messages waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** A message: taken now ("taken"), behind the others ("queued"), or
   * nothing when `max` wait already ("full"). */
  offer(term: Term): "taken" | "queued" | "full" {
    if (this.length === 0 && this.takes()) {
      this.take(term);
      return "taken";
    }
    if (this.length >= this.max) return "full";
    this.items.push(term);
    return "queued";
  }

  /** The protocol takes what waits, in order, while it takes any. */
  drain(): void {
    while (this.length > 0 && this.takes()) {
      const term = this.items[this.head] as Term;
      this.items[this.head++] = undefined; // the term is the GC's once taken
      if (this.head > 64 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.take(term);
    }
  }

  /** Drop what waits; returns how many were dropped. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    return n;
  }
}
