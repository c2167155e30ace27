// The writes a serving slice makes, corked until the slice ends (as TCP_CORK
// or Node's socket.cork() hold writes until uncork): then each connection's
// go to the kernel in one write, one after the other, before the slice's
// answers leave for Erlang. A peer that waits for our answers is woken once
// per burst of them instead of once per write, and on a host where waking a
// thread on another core is costly (an IPI, a VM exit) that is most of the
// cost of a small write (docs/performance.md, step 10).
//
// Held bytes count as taken: write() returns true and bytesWritten counts
// them. What the kernel does not take at the uncork waits in the fd's
// transport, which arms WRITE for it (fd-transport.ts). Bounds: CORK_MAX_PER_FD
// per connection and CORK_MAX in all; a write past either goes out at once,
// after what its connection holds.
import { CORK_MAX, CORK_MAX_PER_FD } from "./limits";

/** A transport that can hold writes: what WriteCork asks of it. */
export interface Corkable {
  /** Writes what it holds in one syscall; what the kernel leaves waits in it. */
  uncork(): void;
}

/** One engine's cork: active while a slice of ready connections is served. */
export class WriteCork {
  private active = false;
  private held: Corkable[] = [];
  private bytes = 0;

  /** Writes of `n` bytes more from a transport that holds `has` already may
   * be held now. */
  admits(has: number, n: number): boolean {
    return this.active && has + n <= CORK_MAX_PER_FD && this.bytes + n <= CORK_MAX;
  }

  /** `t` holds `n` bytes more; `first`: it held none before. */
  hold(t: Corkable, n: number, first: boolean): void {
    this.bytes += n;
    if (first) this.held.push(t);
  }

  /** Runs `serve` corked: what its writes held goes out when it returns or throws. */
  run<T>(serve: () => T): T {
    if (this.active) return serve();
    this.active = true;
    try {
      return serve();
    } finally {
      this.active = false;
      const held = this.held;
      this.held = [];
      this.bytes = 0;
      for (const t of held) t.uncork();
    }
  }
}
