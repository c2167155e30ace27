// TLS as a layer: Node's TLSSocket runs over a Duplex that this layer feeds
// with the ciphertext from below and drains into it. The fd never enters
// libuv, and the layers above see plaintext only: no handshake records, no
// WANT_READ / WANT_WRITE.
import type { Socket } from "net";
import { Duplex } from "stream";
import * as tls from "tls";
import type { ClientInfo, BatchAction } from "./types";
import { ReactorError } from "./errors";
import type { TlsConfig } from "./tls-config";
import { Layer, Transport } from "./transport";
import { MAX_IOV } from "./limits";

/** The ciphertext side: what TLS writes waits here until the layer below takes it. */
class CipherStream extends Duplex {
  queue: Buffer[] = [];
  queued = 0;
  constructor(private readonly wake: () => void) {
    super();
  }
  _read(): void {
    /* fed by TlsLayer.data */
  }
  _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.wake();
    cb();
  }
}

export class TlsLayer extends Layer {
  private readonly socket: tls.TLSSocket;
  private readonly cipher: CipherStream;
  private readonly timer: NodeJS.Timeout;
  private secure = false;
  private failed = false;
  private closed = false;
  /** shutdownWrite ran: close_notify is on its way */
  private ending = false;
  /** close_notify is in the cipher queue (TLS ended its side of the stream) */
  private notified = false;
  /** the FIN followed it below */
  private finSent = false;
  /** what the layers below learnt (the real client, behind a PROXY header) */
  private patch: Partial<ClientInfo> = {};
  /** plaintext TLS gave while the layer above took none (a handler's Promise
   * pending, reading paused, a write first): what one read of ciphertext
   * decrypts comes as several records, and each would be a dataReceived */
  private held: Buffer[] = [];
  /** TLS's end came behind held plaintext */
  private heldEnd = false;
  private releasing = false;
  private taken = 0; // plaintext bytes taken from above
  private flushed = 0; // ciphertext bytes taken by the layer below

  constructor(
    below: Transport,
    config: TlsConfig,
    private peer: { addr?: unknown; port?: unknown },
    /** plaintext taken but not yet out past which writev takes no more (0 = none) */
    private readonly highWater: number,
    /** what its log lines call the handshake: "TLS", or "STARTTLS" on a live connection */
    private readonly label = "TLS",
  ) {
    super(below);
    this.cipher = new CipherStream(() => this.up.wake());
    // TLS ends the stream under it after its close_notify (Node's JSStreamSocket
    // does so on its shutdown): nothing follows in the queue.
    this.cipher.on("finish", () => {
      this.notified = true;
      if (!this.closed) this.up.wake();
    });
    this.socket = new tls.TLSSocket(this.cipher as unknown as Socket, {
      isServer: true,
      secureContext: config.context,
      requestCert: config.requestCert,
      rejectUnauthorized: config.rejectUnauthorized,
      ALPNProtocols: config.alpn,
    });
    this.socket.on("secure", () => this.onSecure(config));
    this.socket.on("data", (plain: Buffer) => {
      if (!this.secure || this.closed) return;
      if (this.held.length === 0 && this.up.wantsMore()) this.up.data(plain);
      else this.held.push(plain);
    });
    this.socket.on("end", () => {
      if (this.closed) return;
      if (this.held.length > 0) this.heldEnd = true;
      else this.up.end();
    });
    this.socket.on("error", (e: Error) => this.fail(e));
    // What Node's tls.Server listens to: a TLSSocket that no server released
    // reports its errors only here, the renegotiation limit's among them
    // (ERR_TLS_SESSION_ATTACK: more than tls.CLIENT_RENEG_LIMIT handshakes
    // within tls.CLIENT_RENEG_WINDOW seconds).
    this.socket.on("_tlsError", (e: Error) => this.fail(e));
    this.timer = setTimeout(
      () => this.fail(new ReactorError("EHANDSHAKETIMEOUT", `TLS handshake took longer than ${config.handshakeTimeout} ms`)),
      config.handshakeTimeout,
    );
  }

  get handshaking(): boolean {
    return !this.secure && !this.failed && !this.closed;
  }

  get opensLater(): boolean {
    return true;
  }

  get settlesLater(): boolean {
    return true;
  }

  get tlsSocket(): tls.TLSSocket | undefined {
    return this.secure && !this.closed ? this.socket : undefined;
  }

  /** Ciphertext waiting for the fd, and whatever waits below. */
  get unsent(): number {
    return this.cipher.queued + this.below.unsent;
  }

  interest(want: BatchAction): BatchAction {
    if (this.held.length > 0 && want === "read_pending") this.releaseSoon();
    // ciphertext first, and what the fd below has not taken yet (a corked
    // write's rest, as a STARTTLS answer in clear)
    if (this.cipher.queued > 0 || this.below.unsent > 0) return "write_pending";
    if (!this.secure) return "read_pending"; // the handshake wants input
    return this.below.interest(want);
  }

  // From below

  data(cipher: Buffer): void {
    this.cipher.push(cipher); // plaintext comes back through the socket's events
    this.up.wake();
  }

  end(): void {
    if (!this.secure) this.up.end(); // gone during the handshake
    else {
      this.cipher.push(null); // TLS says "end" (or fails) in turn
      this.up.wake();
    }
  }

  open(patch: Partial<ClientInfo>): void {
    this.patch = patch; // TLS itself opens once its handshake is done
    if (patch.addr !== undefined) this.peer = patch;
  }

  wantsMore(): boolean {
    return false; // plaintext arrives on TLS's own tick: settle first
  }

  // From above

  writev(bufs: Uint8Array[]): number {
    // TLS takes everything at once: bound what waits as ciphertext instead, so
    // a peer that does not read leaves the rest in writeBuffer (where the
    // high-water mark applies).
    const budget = this.highWater > 0 ? Math.max(0, this.highWater - this.backlog()) : Infinity;
    let n = 0;
    for (const b of bufs) {
      if (n >= budget) break;
      const part = b.length <= budget - n ? b : b.subarray(0, budget - n);
      this.socket.write(part);
      n += part.length;
    }
    this.taken += n;
    this.up.wake();
    return n;
  }

  /** close_notify, then (once it is out) the FIN; TLS 1.3 peers may still send. */
  shutdownWrite(): void {
    if (this.ending) return;
    this.ending = true;
    this.socket.end(); // after every write before it, as Node's socket.end() does
    this.up.wake();
  }

  get writableFinished(): boolean {
    return this.finSent && this.cipher.queued === 0 && this.below.writableFinished;
  }

  /** Queued ciphertext down; true when none is left. A broken fd has already
   * ended the connection (the layer below reported it). */
  flush(): boolean {
    const q = this.cipher.queue;
    try {
      while (q.length > 0) {
        const n = this.below.writev(q.slice(0, MAX_IOV));
        if (n === 0) break;
        this.flushed += n;
        this.cipher.queued -= n;
        let left = n;
        while (left > 0) {
          if (left >= q[0].length) left -= q.shift()!.length;
          else {
            q[0] = q[0].subarray(left);
            left = 0;
          }
        }
      }
      if (q.length > 0) return false;
      // the FIN after the close_notify, as Node's TLS ends the socket under it
      if (this.notified && !this.finSent && !this.closed) {
        this.finSent = true;
        this.below.shutdownWrite();
      }
    } catch {
      return false;
    }
    return this.below.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held = [];
    clearTimeout(this.timer);
    if (!this.failed && !this.ending) this.socket.end(); // close_notify, written if the fd takes it now
    this.flush();
    this.socket.destroy();
    this.below.close();
  }

  /** Plaintext taken whose ciphertext is not out yet (about: TLS adds a little
   * per record, and encrypts in its own time). */
  private backlog(): number {
    return Math.max(this.taken - this.flushed, this.cipher.queued);
  }

  /** Held plaintext goes up on a tick of its own, never from inside arm():
   * no fd event will come for it (the fd may be drained). */
  private releaseSoon(): void {
    if (this.releasing) return;
    this.releasing = true;
    setImmediate(() => {
      this.releasing = false;
      if (this.closed) return;
      let moved = false;
      while (this.held.length > 0 && this.up.wantsMore()) {
        this.up.data(this.held.shift()!);
        moved = true;
      }
      if (this.held.length === 0 && this.heldEnd) {
        this.heldEnd = false;
        this.up.end();
        moved = true;
      }
      if (moved) this.up.wake(); // not when nothing moved: reading is paused, and waking would ask again
    });
  }

  private onSecure(config: TlsConfig): void {
    if (this.secure) return; // a renegotiation: the connection is open already
    // Node's TLS server checks the peer this way; a bare TLSSocket does not.
    const verifyError = (this.socket as unknown as { _handle?: { verifyError(): Error | null } })._handle?.verifyError();
    if (config.requestCert && config.rejectUnauthorized && verifyError) {
      this.fail(Object.assign(new Error(`client certificate rejected: ${verifyError.message}`), { code: "ECERTREJECTED" }));
      return;
    }
    clearTimeout(this.timer);
    this.secure = true;
    const cert = this.socket.getPeerCertificate();
    // What tls.Server sets on the sockets it makes (a stream's Socket reads them).
    this.socket.authorized = !verifyError && !!cert?.subject;
    if (verifyError) {
      const code = (verifyError as NodeJS.ErrnoException).code ?? verifyError.message;
      (this.socket as unknown as { authorizationError: string }).authorizationError = code;
    }
    this.up.open({
      ...this.patch,
      tls: {
        protocol: this.socket.getProtocol(),
        cipher: this.socket.getCipher()?.name ?? null,
        alpn: this.socket.alpnProtocol || null,
        sni: (this.socket as unknown as { servername?: string }).servername || null,
        peer_subject: cert && cert.subject ? formatSubject(cert.subject) : null,
        authorized: !verifyError && !!cert?.subject,
      },
    });
  }

  private fail(e: Error): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    const where = `${this.peer.addr ?? "peer"}:${this.peer.port ?? "-"}`;
    const code = (e as NodeJS.ErrnoException).code;
    const what = code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
    this.up.error(e, this.secure ? `${this.label} error from ${where}: ${what}; closing` : `${this.label} handshake with ${where} failed: ${what}`);
  }
}

function formatSubject(s: Record<string, unknown>): string {
  return Object.entries(s)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
    .join(",");
}
