// Several fds in memory, by number, for engine tests with many connections.
// Each is the shipped MemoryFd (ts/memory-fd.ts, what erlang-reactor/testing
// runs a connection over); this adds the numbers and a record of the
// shutdowns and closes across them.
import type { Datagram, Io, SocketAddress, SocketOption } from "../../ts/addon";
import { MemoryFd } from "../../ts/memory-fd";

export class MemoryFds implements Io {
  private readonly fds = new Map<number, MemoryFd>();
  /** every shutdown(fd, how), in order */
  readonly shutdowns: [number, 0 | 1 | 2][] = [];
  /** every close(fd), in order */
  readonly closed: number[] = [];

  /** The fd numbered `n` (a fresh one on first use). */
  fd(n: number): MemoryFd {
    let f = this.fds.get(n);
    if (!f) this.fds.set(n, (f = new MemoryFd()));
    return f;
  }

  /** What fd `n`'s next reads return: strings as UTF-8, "eof", an Error to throw. */
  feed(n: number, ...items: (string | Uint8Array | "eof" | Error)[]): void {
    for (const i of items) this.fd(n).inbox.push(i === "eof" || i instanceof Error ? i : Buffer.from(i));
  }

  /** Everything written to fd `n`, as UTF-8. */
  written(n: number): string {
    return Buffer.concat(this.fd(n).received).toString();
  }

  readInto(fd: number, buf: Buffer, offset: number, length: number): number {
    return this.fd(fd).readInto(fd, buf, offset, length);
  }
  writev(fd: number, bufs: Uint8Array[]): number {
    return this.fd(fd).writev(fd, bufs);
  }
  /** writev's one buffer (a subclass that watches writev sees these too) */
  write(fd: number, buf: Uint8Array, offset: number, length: number): number {
    return this.writev(fd, [buf.subarray(offset, offset + length)]);
  }
  shutdown(fd: number, how: 0 | 1 | 2): void {
    this.shutdowns.push([fd, how]);
    this.fd(fd).shutdown(fd, how);
  }
  close(fd: number): void {
    this.closed.push(fd);
    this.fd(fd).close();
  }
  recvFrom(fd: number, buf: Buffer, offset: number, length: number): Datagram | null {
    return this.fd(fd).recvFrom(fd, buf, offset, length);
  }
  sendTo(fd: number, buf: Uint8Array, addr: string, port: number): number {
    return this.fd(fd).sendTo(fd, buf, addr, port);
  }
  setSocketOption(fd: number, name: SocketOption, value: number): void {
    this.fd(fd).setSocketOption(fd, name, value);
  }
  getSocketOption(fd: number, name: SocketOption): number {
    return this.fd(fd).getSocketOption(fd, name);
  }
  socketAddress(fd: number, peer: boolean): SocketAddress | null {
    return this.fd(fd).socketAddress(fd, peer);
  }
}
