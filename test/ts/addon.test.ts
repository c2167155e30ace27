// The addon against real fds: a FIFO (pollable, not a socket), closed fds,
// and a TCP socket's options and addresses.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { Addon } from "../../ts/addon";

// eslint-disable-next-line @typescript-eslint/no-var-requires
const addon: Addon = require(path.join(__dirname, "../../priv/reactor_addon.node"));

describe("addon", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reactor-addon-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads and writes without blocking, and EAGAIN is not an error", () => {
    const fifo = path.join(dir, "f");
    execFileSync("mkfifo", [fifo]);
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const buf = Buffer.alloc(16);
    expect(addon.readInto(fd, buf, 0, 16)).toBe(-1);
    expect(addon.writev(fd, [Buffer.from("ab"), Buffer.from("cd")])).toBe(4);
    expect(addon.readInto(fd, buf, 2, 10)).toBe(4);
    expect(buf.subarray(2, 6).toString()).toBe("abcd");
    // write: one buffer's span, as a write(2) (the fd is no socket)
    expect(addon.write(fd, Buffer.from("xefgx"), 1, 3)).toBe(3);
    expect(addon.readInto(fd, buf, 0, 16)).toBe(3);
    expect(buf.subarray(0, 3).toString()).toBe("efg");
    expect(() => addon.write(fd, Buffer.alloc(4), 2, 4)).toThrow(/out of bounds/);
    expect(() => addon.shutdown(fd, 2)).not.toThrow(); // not a socket: nothing to shut
    let total = 0;
    for (let n = 1; n > 0; ) total += n = addon.writev(fd, [Buffer.alloc(65536)]);
    expect(total).toBeGreaterThan(0); // the pipe filled up: write returned 0, no throw
    expect(addon.write(fd, Buffer.alloc(65536), 0, 65536)).toBe(0); // full: EAGAIN is 0
    addon.close(fd);
  });

  it("watches an fd: one unit of work per call, each call's ticks and microtasks before the next", async () => {
    const fifo = path.join(dir, "w");
    execFileSync("mkfifo", [fifo]);
    const fd = fs.openSync(fifo, fs.constants.O_RDWR);
    const seen: string[] = [];
    let calls = 0;
    const done = new Promise<void>((resolve) => {
      addon.watch(fd, (events) => {
        const n = ++calls;
        seen.push(`call ${n} events ${events}`);
        process.nextTick(() => seen.push(`tick ${n}`));
        void Promise.resolve().then(() => seen.push(`microtask ${n}`));
        if (n < 3) return true;
        addon.readInto(fd, Buffer.alloc(16), 0, 16); // taken: not readable again
        setImmediate(resolve);
        return false;
      });
    });
    fs.writeSync(fd, "x");
    await done;
    addon.unwatch(fd);
    expect(seen).toEqual([
      "call 1 events 1", "tick 1", "microtask 1",
      "call 2 events 0", "tick 2", "microtask 2",
      "call 3 events 0", "tick 3", "microtask 3",
    ]);
    expect(() => addon.watch(-1, () => false)).toThrow(/fd must be >= 0/);
    fs.closeSync(fd);
  });

  it("stops calling back once unwatched, even inside its loop", async () => {
    const fifo = path.join(dir, "u");
    execFileSync("mkfifo", [fifo]);
    const fd = fs.openSync(fifo, fs.constants.O_RDWR);
    let calls = 0;
    addon.watch(fd, () => {
      calls++;
      addon.unwatch(fd);
      return true; // more, it says: but no longer watched
    });
    expect(() => addon.watch(fd, () => false)).toThrow(/watched already/);
    fs.writeSync(fd, "x"); // stays unread: readable on every turn of the loop
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
    fs.closeSync(fd);
  });

  it("sets socket options and reads them back, and names both ends of a TCP socket", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
    const client = net.connect(port, "127.0.0.1");
    const sock = await accepted;
    const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    try {
      for (const v of [1, 0]) {
        addon.setSocketOption(fd, "nodelay", v);
        expect(addon.getSocketOption(fd, "nodelay")).toBe(v);
      }
      addon.setSocketOption(fd, "keepalive", 1);
      addon.setSocketOption(fd, "keepidle", 42);
      addon.setSocketOption(fd, "sndbuf", 65536);
      expect([addon.getSocketOption(fd, "keepalive"), addon.getSocketOption(fd, "keepidle")]).toEqual([1, 42]);
      expect(addon.getSocketOption(fd, "sndbuf")).toBe(2 * 65536); // socket(7): doubled for bookkeeping
      expect(addon.socketAddress(fd, false)).toEqual({ address: "127.0.0.1", family: "IPv4", port });
      expect(addon.socketAddress(fd, true)).toEqual({ address: "127.0.0.1", family: "IPv4", port: client.localPort });
      expect(() => addon.setSocketOption(fd, "linger" as never, 1)).toThrow(/unknown socket option: linger/);
      const file = fs.openSync(__filename, "r"); // not a socket
      expect(() => addon.setSocketOption(file, "nodelay", 1)).toThrow(expect.objectContaining({ code: "ENOTSOCK" }));
      expect(addon.socketAddress(file, true)).toBeNull();
      fs.closeSync(file);
      // write on a socket: send(2), and a shut end is EPIPE, never SIGPIPE
      const got = new Promise<string>((r) => client.once("data", (d) => r(d.toString())));
      expect(addon.write(fd, Buffer.from("hi!"), 0, 3)).toBe(3);
      expect(await got).toBe("hi!");
      addon.shutdown(fd, 1);
      expect(() => addon.write(fd, Buffer.from("x"), 0, 1)).toThrow(expect.objectContaining({ code: "EPIPE", syscall: "write" }));
    } finally {
      client.destroy();
      sock.destroy();
      server.close();
    }
  });

  it("names errors the way Node does", () => {
    const fd = fs.openSync(__filename, "r");
    fs.closeSync(fd);
    let err: NodeJS.ErrnoException | undefined;
    try {
      addon.readInto(fd, Buffer.alloc(4), 0, 4);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err?.code).toBe("EBADF");
    expect(err?.syscall).toBe("read");
    expect(err?.errno).toBe(-9);
  });

  it("refuses out-of-bounds reads and a non-socket channel", () => {
    const fd = fs.openSync(__filename, "r");
    expect(() => addon.readInto(fd, Buffer.alloc(4), 2, 4)).toThrow(/out of bounds/);
    expect(() => addon.recvFds(fd)).toThrow(expect.objectContaining({ code: "ENOTSOCK" }));
    expect(() => addon.connectChannel(path.join(dir, "nope.sock"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
    fs.closeSync(fd);
  });

  // Issue 18 item 4's kind: a port was cut to 16 bits (70000 went to 4464,
  // -1 to 65535). Refused before any syscall, as Node's dgram refuses it.
  it("refuses a datagram port that is not one, and an address with a NUL, before sending", () => {
    const fd = fs.openSync(__filename, "r"); // not a socket: a send that got through says ENOTSOCK
    const data = Buffer.from("x");
    for (const port of [70000, -1, 0, 65536, 1.5, NaN, Infinity]) {
      expect(() => addon.sendTo(fd, data, "127.0.0.1", port)).toThrow(
        expect.objectContaining({ name: "RangeError", code: "ERR_SOCKET_BAD_PORT" }),
      );
    }
    expect(() => addon.sendTo(fd, data, "127.0.0.1", "80" as unknown as number)).toThrow(
      expect.objectContaining({ code: "ERR_SOCKET_BAD_PORT" }),
    );
    expect(() => addon.sendTo(fd, data, "127.0.0.1\0.2", 80)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => addon.sendTo(fd, data, "localhost", 80)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => addon.sendTo(fd, data, "127.0.0.1", 65535)).toThrow(expect.objectContaining({ code: "ENOTSOCK" }));
    expect(() => addon.sendTo(fd, data, "::1", 1)).toThrow(expect.objectContaining({ code: "ENOTSOCK" }));
    fs.closeSync(fd);
  });
});
