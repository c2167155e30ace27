// TLS terminated in the port over the raw bytes of an fd. Node's own TLS runs
// over a Duplex that the reactor feeds with what it reads from the fd and
// drains into the fd: the fd never enters libuv, and protocols only ever see
// plaintext: no handshake records, no WANT_READ / WANT_WRITE.
import * as fs from "fs";
import { Duplex } from "stream";
import * as tls from "tls";

export interface TlsOptions {
  certfile: string;
  keyfile: string;
  cacertfile?: string;
  /** "verify_peer" asks for a client certificate and rejects a bad one */
  verify?: "verify_peer" | "verify_none";
  /** with verify_peer: refuse clients that send no certificate (default true) */
  fail_if_no_peer_cert?: boolean;
  alpn?: string[];
  /** ms a handshake may take (default 10000) */
  handshake_timeout?: number;
}

export interface TlsInfo {
  protocol: string | null;
  cipher: string | null;
  alpn: string | null;
  sni: string | null;
  peer_subject: string | null;
  authorized: boolean;
}

export interface TlsEvents {
  secure(info: TlsInfo): void;
  data(plain: Buffer): void;
  end(): void;
  error(e: Error): void;
}

/** TLS options as Erlang sends them (a context's, or a listener's in client
 * info); undefined when there are none. */
export function parseTlsOptions(v: unknown): TlsOptions | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.certfile !== "string" || typeof o.keyfile !== "string") throw new TypeError("tls needs certfile and keyfile");
  const timeout = o.handshake_timeout;
  return {
    certfile: o.certfile,
    keyfile: o.keyfile,
    cacertfile: typeof o.cacertfile === "string" && o.cacertfile ? o.cacertfile : undefined,
    verify: o.verify === "verify_peer" ? "verify_peer" : "verify_none",
    fail_if_no_peer_cert: o.fail_if_no_peer_cert !== false,
    alpn: Array.isArray(o.alpn) ? o.alpn.filter((a): a is string => typeof a === "string") : undefined,
    handshake_timeout: Number.isInteger(timeout) && (timeout as number) >= 0 ? (timeout as number) : 10000,
  };
}

export class TlsConfig {
  readonly context: tls.SecureContext;
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
  readonly alpn?: string[];
  readonly handshakeTimeout: number;

  constructor(o: TlsOptions) {
    this.context = tls.createSecureContext({
      cert: fs.readFileSync(o.certfile),
      key: fs.readFileSync(o.keyfile),
      ca: o.cacertfile ? fs.readFileSync(o.cacertfile) : undefined,
    });
    this.requestCert = o.verify === "verify_peer";
    this.rejectUnauthorized = this.requestCert && o.fail_if_no_peer_cert !== false;
    this.alpn = o.alpn?.length ? o.alpn : undefined;
    this.handshakeTimeout = o.handshake_timeout ?? 10000;
  }
}

/** The ciphertext side: what TLS writes waits here until the fd takes it. */
class CipherStream extends Duplex {
  queue: Buffer[] = [];
  queued = 0;
  constructor(private readonly wake: () => void) {
    super();
  }
  _read(): void {
    /* fed by TlsSession.feed */
  }
  _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.wake();
    cb();
  }
}

export class TlsSession {
  readonly socket: tls.TLSSocket;
  private readonly cipher: CipherStream;
  private failed = false;
  private taken = 0; // plaintext bytes given to TLS
  private flushed = 0; // ciphertext bytes written to the fd

  constructor(
    private readonly config: TlsConfig,
    events: TlsEvents,
    /** ciphertext queued: the reactor should try to write it */
    wake: () => void,
  ) {
    this.cipher = new CipherStream(wake);
    this.socket = new tls.TLSSocket(this.cipher as unknown as import("net").Socket, {
      isServer: true,
      secureContext: config.context,
      requestCert: config.requestCert,
      rejectUnauthorized: config.rejectUnauthorized,
      ALPNProtocols: config.alpn,
    });
    const fail = (e: Error) => {
      if (this.failed) return;
      this.failed = true;
      events.error(e);
    };
    this.socket.on("secure", () => {
      // Node's TLS server checks the peer this way; a bare TLSSocket does not.
      const verifyError = (this.socket as unknown as { _handle?: { verifyError(): Error | null } })._handle?.verifyError();
      if (config.requestCert && config.rejectUnauthorized && verifyError) {
        fail(Object.assign(new Error(`client certificate rejected: ${verifyError.message}`), { code: "ECERTREJECTED" }));
        return;
      }
      const peer = this.socket.getPeerCertificate();
      events.secure({
        protocol: this.socket.getProtocol(),
        cipher: this.socket.getCipher()?.name ?? null,
        alpn: this.socket.alpnProtocol || null,
        sni: (this.socket as unknown as { servername?: string }).servername || null,
        peer_subject: peer && peer.subject ? formatSubject(peer.subject) : null,
        authorized: !verifyError && !!peer?.subject,
      });
    });
    this.socket.on("data", (plain: Buffer) => events.data(plain));
    this.socket.on("end", () => events.end());
    this.socket.on("error", fail);
  }

  /** Bytes read from the fd. */
  feed(cipher: Buffer): void {
    this.cipher.push(cipher);
  }

  /** The peer closed the TCP connection. */
  feedEnd(): void {
    this.cipher.push(null);
  }

  /** Plaintext from the protocol, up to `budget` bytes (TLS would take any
   * amount and queue its ciphertext without bound). Returns bytes taken. */
  writePlain(bufs: Uint8Array[], budget = Infinity): number {
    let n = 0;
    for (const b of bufs) {
      if (n >= budget) break;
      const part = b.length <= budget - n ? b : b.subarray(0, budget - n);
      this.socket.write(part);
      n += part.length;
    }
    this.taken += n;
    return n;
  }

  /** Plaintext taken whose ciphertext has not reached the fd yet (about: TLS
   * adds a little per record, and encrypts in its own time). */
  get backlog(): number {
    return Math.max(this.taken - this.flushed, this.cipher.queued);
  }

  get rawPending(): boolean {
    return this.cipher.queued > 0;
  }

  /** Bytes of ciphertext waiting for the fd. */
  get queued(): number {
    return this.cipher.queued;
  }

  /** Write queued ciphertext with `write` (bytes taken, 0 = EAGAIN). */
  flushRaw(write: (bufs: Buffer[]) => number): number {
    let total = 0;
    const q = this.cipher.queue;
    while (q.length > 0) {
      const n = write(q.slice(0, 64));
      if (n === 0) break;
      total += n;
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
    return total;
  }

  /** close_notify into the queue, then let go of TLS. */
  end(): void {
    if (!this.failed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function formatSubject(s: Record<string, unknown>): string {
  return Object.entries(s)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
    .join(",");
}
