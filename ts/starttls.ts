// STARTTLS as a layer: plaintext passes through until the protocol starts
// TLS on the live connection (SMTP's STARTTLS, IMAP's, POP3's STLS,
// PostgreSQL's SSLRequest); then a TlsLayer goes between this layer and the
// one below, and everything after is TLS, as Node's
// `new tls.TLSSocket(socket, { isServer: true, secureContext })` wraps a
// live socket.
//
// Two orders matter. Out: what the protocol wrote before the start (SMTP's
// "220 Ready to start TLS") goes in clear, before any TLS record. In: the TLS
// session begins with the first byte read from the fd after the start;
// nothing read before it is ever fed to TLS. What the protocol already holds
// of the peer's input came in clear and is its own to drop (RFC 3207 §4; the
// STARTTLS command injection, CVE-2011-0411, is a server that took it as if
// it had come over TLS).
import type { TLSSocket } from "tls";
import type { ClientInfo, BatchAction, TlsInfo } from "./types";
import type { Peer } from "./protocol";
import type { TlsConfig } from "./tls-config";
import { TlsLayer } from "./tls";
import type { Transport, Upstream } from "./transport";
import { MAX_IOV } from "./limits";

/** Why a STARTTLS handshake did not finish: the peer left, or the connection ended first. */
function disconnected(): Error {
  // Node's TLS server words it so, with this code (a TLSSocket that never got secure)
  return Object.assign(new Error("Client network socket disconnected before secure TLS connection was established"), {
    code: "ECONNRESET",
  });
}

export class StartTlsLayer implements Transport, Upstream {
  up!: Upstream;
  /** the layer calls go to: the one below, then TLS once started */
  private inner: Transport;
  private tls: TlsLayer | undefined;
  /** what the protocol wrote before the start: out in clear, first */
  private clear: Uint8Array[] = [];
  private clearBytes = 0;
  private secure = false;
  private handshake: { resolve(info: TlsInfo): void; reject(e: Error): void } | undefined;

  constructor(
    private readonly below: Transport,
    /** the connection's `starttls` option set (its listener's or its context's) */
    private readonly config: TlsConfig,
    /** plaintext taken but not yet out past which TLS takes no more (0 = none) */
    private readonly highWater: number,
  ) {
    below.up = this;
    this.inner = below;
  }

  /** Whether startTls ran on this connection. */
  get started(): boolean {
    return this.tls !== undefined;
  }

  /** TLS from now on, as a server. `clear`: bytes the protocol wrote before
   * (its writeBuffer), written in clear first. `peer` names the client in
   * TLS's log lines; `onSecure` gets the session when the handshake is done,
   * before the Promise resolves with it. A failed handshake rejects it and
   * ends the connection (Upstream.error). */
  start(clear: Uint8Array[], peer: ClientInfo, onSecure: (info: TlsInfo) => void): Promise<TlsInfo> {
    for (const b of clear) {
      if (b.length === 0) continue;
      this.clear.push(b);
      this.clearBytes += b.length;
    }
    const tls = new TlsLayer(this.below, this.config, peer, this.highWater, "STARTTLS");
    tls.up = this;
    this.tls = this.inner = tls;
    return new Promise<TlsInfo>((resolve, reject) => {
      this.handshake = {
        resolve: (info) => {
          onSecure(info);
          resolve(info);
        },
        reject,
      };
    });
  }

  // Transport: calls from above go to whatever is inner now.

  get opensLater(): boolean {
    return this.below.opensLater;
  }
  get settlesLater(): boolean {
    return this.inner.settlesLater;
  }
  get datagram(): boolean {
    return this.below.datagram;
  }
  /** TLS's socket once started (the stream's TLSSocket members read it), none before. */
  get tlsSocket(): TLSSocket | undefined {
    return this.inner.tlsSocket;
  }
  get handshaking(): boolean {
    return this.inner.handshaking;
  }
  get writableFinished(): boolean {
    return this.clearBytes === 0 && this.inner.writableFinished;
  }
  get unsent(): number {
    return this.clearBytes + this.inner.unsent;
  }

  readable(): void {
    this.inner.readable();
  }

  /** The clear bytes first, then TLS's records; true when none is left. */
  flush(): boolean {
    try {
      while (this.clear.length > 0) {
        const n = this.below.writev(this.clear.slice(0, MAX_IOV));
        if (n === 0) return false;
        this.consumeClear(n);
      }
    } catch {
      return false; // a broken fd: the layer below has ended the connection
    }
    return this.inner.flush();
  }

  writev(bufs: Uint8Array[]): number {
    return this.inner.writev(bufs);
  }

  sendTo(data: Uint8Array, addr: string, port: number): number {
    return this.inner.sendTo(data, addr, port);
  }

  shutdownWrite(): void {
    this.inner.shutdownWrite();
  }

  discard(max: number): number {
    return this.inner.discard(max);
  }

  close(): void {
    this.flush(); // best effort, as TLS's own close
    this.inner.close();
    this.fail(disconnected());
  }

  interest(want: BatchAction): BatchAction {
    if (this.clearBytes > 0) return "write_pending";
    return this.inner.interest(want);
  }

  // Upstream: what the layer below (then TLS) reports.

  data(buf: Buffer, from?: Peer): void {
    // TLS's plaintext: the TLS layer holds what the connection does not want yet
    this.up.data(buf, this.tls ? undefined : from);
  }

  end(): void {
    if (this.tls && !this.secure) {
      this.error(disconnected()); // gone during the handshake
      return;
    }
    this.up.end();
  }

  open(patch: Partial<ClientInfo>): void {
    if (!this.tls) return this.up.open(patch); // the layers below opened: the connection starts
    // TLS opens once its handshake is done: the connection was open already
    this.secure = true;
    const h = this.handshake;
    this.handshake = undefined;
    if (patch.tls) h?.resolve(patch.tls);
    this.up.wake();
  }

  error(e: Error, logText?: string): void {
    this.fail(e);
    this.up.error(e, logText);
  }

  wake(): void {
    this.up.wake();
  }

  wantsMore(): boolean {
    return this.up.wantsMore();
  }

  dropped(size: number, from: Peer): void {
    this.up.dropped?.(size, from);
  }

  datagramError(e: Error, to?: Peer): void {
    if (this.up.datagramError) this.up.datagramError(e, to);
    else this.up.error(e);
  }

  private fail(e: Error): void {
    const h = this.handshake;
    this.handshake = undefined;
    h?.reject(e);
  }

  private consumeClear(n: number): void {
    this.clearBytes -= n;
    while (n > 0) {
      const first = this.clear[0];
      if (n >= first.length) {
        n -= first.length;
        this.clear.shift();
      } else {
        this.clear[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}
