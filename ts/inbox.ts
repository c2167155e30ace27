// A connection's messages (messageReceived) that its protocol has not taken
// yet: a FIFO with a bound. What happens past the bound is the connection's
// policy (connection.ts: it is destroyed with EMESSAGEOVERFLOW).

/** First in, first out, at most `max` entries. */
export class Inbox<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  constructor(
    /** the most entries it holds */
    readonly max: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get empty(): boolean {
    return this.length === 0;
  }

  /** Queue `item` last; false when the inbox is full (nothing is queued). */
  push(item: T): boolean {
    if (this.length >= this.max) return false;
    this.items.push(item);
    return true;
  }

  /** The first entry, taken out. */
  shift(): T | undefined {
    if (this.empty) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined; // the term is the GC's once delivered
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empty it; returns how many entries were dropped. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    return n;
  }
}
