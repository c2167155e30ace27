// An in-memory Io for engine tests: scripted reads, recorded writes and closes.
import type { Io } from "../../ts/addon";
import type { LogLevel, WireAction } from "../../ts/codec";
import type { Sink } from "../../ts/reactor";

export class FakeIo implements Io {
  inbox = new Map<number, (Buffer | "eagain" | "eof" | Error)[]>();
  written = new Map<number, Buffer>();
  closed: number[] = [];
  shut: number[] = [];
  /** bytes the "kernel" still takes before EAGAIN (undefined = unlimited) */
  writeLimit?: number;

  feed(fd: number, ...items: (Buffer | string | "eagain" | "eof" | Error)[]): void {
    const q = this.inbox.get(fd) ?? [];
    for (const i of items) q.push(typeof i === "string" && i !== "eagain" && i !== "eof" ? Buffer.from(i) : (i as Buffer));
    this.inbox.set(fd, q);
  }
  readInto(fd: number, buf: Buffer, off: number, len: number): number {
    const next = this.inbox.get(fd)?.shift() ?? "eagain";
    if (next === "eagain") return -1;
    if (next === "eof") return 0;
    if (next instanceof Error) throw next;
    const n = Math.min(len, next.length);
    next.copy(buf, off, 0, n);
    return n;
  }
  writev(fd: number, bufs: Uint8Array[]): number {
    let all = Buffer.concat(bufs);
    if (this.writeLimit !== undefined) {
      all = all.subarray(0, this.writeLimit);
      this.writeLimit -= all.length;
    }
    this.written.set(fd, Buffer.concat([this.written.get(fd) ?? Buffer.alloc(0), all]));
    return all.length;
  }
  dgrams = new Map<number, { data: Buffer; addr: string; port: number; size?: number }[]>();
  sent: { fd: number; data: string; addr: string; port: number }[] = [];
  recvFrom(fd: number, buf: Buffer, off: number, len: number) {
    const d = this.dgrams.get(fd)?.shift();
    if (!d) return null;
    const n = Math.min(len, d.data.length);
    d.data.copy(buf, off, 0, n);
    return { n, size: d.size ?? d.data.length, addr: d.addr, port: d.port };
  }
  sendTo(fd: number, b: Uint8Array, addr: string, port: number): number {
    if (this.writeLimit === 0) return -1;
    this.sent.push({ fd, data: Buffer.from(b).toString(), addr, port });
    return b.length;
  }
  shutHow: [number, number][] = [];
  shutdown(fd: number, how = 2): void {
    this.shut.push(fd);
    this.shutHow.push([fd, how]);
  }
  close(fd: number): void {
    this.closed.push(fd);
  }
}

export class RecordingSink implements Sink {
  acts: [number, WireAction][] = [];
  acks: [number, WireAction][] = [];
  nacks: [number, string][] = [];
  logs: [LogLevel, number | null, string][] = [];
  wakes = 0;
  act(id: number, a: WireAction): void {
    this.acts.push([id, a]);
  }
  ack(id: number, a: WireAction): void {
    this.acks.push([id, a]);
  }
  nack(id: number, r: string): void {
    this.nacks.push([id, r]);
  }
  log(level: LogLevel, id: number | null, text: string): void {
    this.logs.push([level, id, text]);
  }
  wake(): void {
    this.wakes++;
  }
}
