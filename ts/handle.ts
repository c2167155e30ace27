// What a Protocol sees of its connection (ConnectionHandle, behind its
// read, write, sendTo, timers, groups, ref, close): calls on the transport
// stack and on the engine. The state machine behind it is connection.ts.
import type { TLSSocket } from "tls";
import type { SocketAddress, SocketOption } from "./addon";
import type { Clock } from "./clock";
import type { Connection } from "./connection";
import type { ConnectionHost } from "./connection-host";
import type { RawFd } from "./fd-transport";
import type { ConnectionHandle, ConnRef, TimerKind } from "./protocol";
import type { Transport } from "./transport";
import type { TlsInfo } from "./types";
import { ReactorError } from "./errors";
import { StartTlsLayer } from "./starttls";

export class Handle implements ConnectionHandle {
  constructor(
    private readonly conn: Connection,
    private readonly top: Transport,
    private readonly host: ConnectionHost,
    /** the fd under the layers: Protocol.read, socket options, addresses */
    private readonly raw: RawFd,
  ) {}

  get clock(): Clock {
    return this.host.clock;
  }

  get tlsSocket(): TLSSocket | undefined {
    return this.top.tlsSocket;
  }

  get ref(): ConnRef {
    return this.host.refOf(this.conn.id);
  }

  read(size: number): Buffer | null {
    return this.raw.readNow(size);
  }

  /** Protocol.write: what the kernel takes now, the rest into writeBuffer
   * behind what waits there already (so the bytes keep their order); the
   * connection arms WRITE for it. A datagram goes now or not at all. */
  write(b: Uint8Array): boolean {
    if (this.top.datagram) return b.length === 0 || this.top.writev([b]) > 0;
    const wb = this.conn.proto.writeBuffer;
    if (wb.length === 0 && b.length > 0) {
      const n = this.top.writev([b]);
      if (n < b.length) wb.push(n === 0 ? b : b.subarray(n));
    } else {
      wb.push(b);
    }
    this.conn.wrote();
    return wb.length === 0;
  }

  writev(bufs: Uint8Array[]): number {
    return this.top.writev(bufs);
  }

  sendTo(data: Uint8Array, addr: string, port: number): number {
    return this.top.sendTo(data, addr, port);
  }

  shutdownWrite(): void {
    this.top.shutdownWrite();
  }

  /** Protocol.startTls: what writeBuffer holds goes out in clear before
   * TLS, then the stack's STARTTLS layer runs the handshake; the connection
   * arms for it at once, in a handler or outside one. */
  startTls(): Promise<TlsInfo> {
    const layer = this.top;
    const proto = this.conn.proto;
    if (!(layer instanceof StartTlsLayer) || layer.started) {
      throw proto.clientInfo.tls || (layer instanceof StartTlsLayer && layer.started)
        ? new ReactorError("ETLSACTIVE", "startTls: the connection is under TLS already")
        : new ReactorError("ENOSTARTTLS", "startTls: the connection has no starttls option set (its listener's or its context's)");
    }
    const clear = proto.writeBuffer.peek(Infinity);
    proto.writeBuffer.clear();
    const secure = layer.start(clear, proto.clientInfo, (tls) => {
      this.conn.proto.clientInfo = { ...this.conn.proto.clientInfo, tls };
    });
    secure.catch(() => {}); // connectionLost tells the protocol too: never an unhandled rejection
    this.conn.wake();
    return secure;
  }

  setTimer(kind: TimerKind, ms: number): void {
    this.conn.setTimer(kind, ms);
  }

  join(group: Buffer): Promise<void> {
    return this.host.join(this.conn, group);
  }

  leave(group: Buffer): void {
    this.host.leave(this.conn, group);
  }

  readStop(): void {
    this.conn.readStop();
  }

  readStart(): void {
    this.conn.readStart();
  }

  setSocketOption(name: SocketOption, value: number): boolean {
    return this.raw.setSocketOption(name, value);
  }

  socketAddress(peer: boolean): SocketAddress | null {
    return this.raw.socketAddress(peer);
  }

  close(reason?: Error): void {
    this.conn.close(reason);
  }

  destroy(reason?: Error): void {
    this.conn.destroy(reason);
  }
}
