// The PROXY protocol as a layer: holds everything back until the header a
// load balancer sends first is complete, opens with the real client's
// addresses, then passes what followed the header up. First in any stack, as
// ranch reads it before TLS.
import type { ClientInfo, BatchAction } from "./types";
import { parseProxyHeader } from "./proxy";
import { Layer, Transport } from "./transport";

export class ProxyLayer extends Layer {
  /** the header's bytes seen so far; undefined once it is complete */
  private head: Buffer | undefined = Buffer.alloc(0);

  constructor(
    below: Transport,
    /** who sent the header (the load balancer), for errors and `proxied_by` */
    private readonly sender: { addr?: string; port?: number },
  ) {
    super(below);
  }

  get opensLater(): boolean {
    return true;
  }

  interest(want: BatchAction): BatchAction {
    return this.head !== undefined ? "read_pending" : this.below.interest(want);
  }

  data(bytes: Buffer): void {
    if (this.head === undefined) {
      this.up.data(bytes);
      return;
    }
    const buf = this.head.length ? Buffer.concat([this.head, bytes]) : bytes;
    let r;
    try {
      r = parseProxyHeader(buf);
    } catch (e) {
      const where = `${this.sender.addr ?? "peer"}:${this.sender.port ?? "-"}`;
      this.up.error(e as Error, `malformed PROXY header from ${where}: ${(e as Error).message}; closing`);
      return;
    }
    if (!r.done) {
      this.head = Buffer.from(buf); // small: copy rather than pin a slab
      return;
    }
    this.head = undefined;
    const patch: Partial<ClientInfo> = r.proxied
      ? { ...r.proxied, proxied_by: { addr: this.sender.addr, port: this.sender.port } }
      : {};
    this.up.open(patch);
    const rest = buf.subarray(r.length);
    // what followed the header is the first data of the layer above
    if (rest.length) this.up.data(rest);
  }

  wantsMore(): boolean {
    return this.head !== undefined || this.up.wantsMore();
  }
}
