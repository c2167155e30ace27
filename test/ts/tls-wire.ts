// The fd of a TLS test, seen from both ends: what the engine writes reaches
// a Node TLS client (once it is connected: bytes written before go nowhere
// but the fd's record), what the client writes is what the fd reads. A
// little poller plays Erlang: it answers each armed interest with the event
// when it is due. Shared by tls.test.ts and starttls.test.ts.
import { execFileSync } from "child_process";
import * as path from "path";
import { Duplex } from "stream";
import * as tls from "tls";
import type { BatchAction } from "../../ts/codec";
import type { Reactor } from "../../ts/reactor";
import type { TlsOptions } from "../../ts/tls-config";
import { MemoryFds } from "./memory-fds";
import { RecordingSink } from "./recording-sink";

/** A self-signed certificate for localhost in `dir`, as the options Erlang sends. */
export function makeCert(dir: string): TlsOptions {
  const cert: TlsOptions = {
    certfile: path.join(dir, "cert.pem"),
    keyfile: path.join(dir, "key.pem"),
    verify: "verify_none",
    fail_if_no_peer_cert: true,
  };
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-keyout", cert.keyfile, "-out", cert.certfile,
  ], { stdio: "ignore" });
  return cert;
}

export const FD = 3;
export const ID = 1;
export const tick = () => new Promise((r) => setImmediate(r));

/** The fd, seen from both ends, and an Erlang stand-in arming it. */
export class Wire extends MemoryFds {
  armed: BatchAction | null = null;
  client!: tls.TLSSocket;
  private toClient!: Duplex;
  reactor!: Reactor;
  readonly sink = new (class extends RecordingSink {
    constructor(private readonly wire: Wire) {
      super();
    }
    act(id: number, a: BatchAction): void {
      super.act(id, a);
      this.wire.arm(a);
    }
    ack(id: number, a: BatchAction): void {
      super.ack(id, a);
      this.wire.arm(a);
    }
  })(this);

  connect(opts: tls.ConnectionOptions = {}): tls.TLSSocket {
    const wire = this;
    this.toClient = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        // client's ciphertext: the fd has bytes to read (an empty write, as a
        // renegotiation makes, is none: a read of 0 would be an EOF)
        if (chunk.length) wire.feed(FD, Buffer.from(chunk));
        wire.poll();
        cb();
      },
      final(cb) {
        wire.feed(FD, "eof");
        wire.poll();
        cb();
      },
    });
    this.client = tls.connect({ socket: this.toClient, rejectUnauthorized: false, ...opts });
    this.client.on("error", () => {});
    return this.client;
  }

  writev(fd: number, bufs: Uint8Array[]): number {
    const n = super.writev(fd, bufs);
    const all = Buffer.concat(bufs).subarray(0, n);
    if (all.length) this.toClient?.push(all);
    return n;
  }

  arm(a: BatchAction): void {
    this.armed = a === "close" ? null : a;
    this.poll();
  }

  /** Deliver the armed event when it is due, as enif_select would, in a
   * slice of its own as the port serves it (its writes corked). */
  poll(): void {
    setImmediate(() => {
      this.reactor.cork.run(() => {
        if (this.armed === "write_pending" && this.fd(FD).writable) {
          this.armed = null;
          this.reactor.writeReady(ID);
        } else if (this.armed === "read_pending" && this.fd(FD).readable) {
          this.armed = null;
          this.reactor.readReady(ID);
        }
      });
    });
  }
}

export async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function received(c: tls.TLSSocket, n: number): Promise<string> {
  let got = "";
  c.on("data", (d: Buffer) => (got += d.toString()));
  await until(() => got.length >= n, `${n} bytes at the client`);
  return got;
}
