// The port over a fake addon (test/ts/fake-addon.ts), the test playing
// Erlang: frames in as term_to_binary would write them, fds on the channel,
// ready batches on the batch socket; what comes back is decoded and checked,
// frame by frame and action by action. Protocols load for real (esbuild).
import * as erlpack from "erlpack";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ACK, ACTION_CODES, DRAINED } from "../../ts/batch";
import { realClock } from "../../ts/clock";
import { redirectConsole } from "../../ts/console";
import { BATCH_TAG, frame } from "../../ts/framing";
import { Outbox } from "../../ts/outbox";
import { Port } from "../../ts/port";
import { INPUT_FD } from "../../ts/port-input";
import { ProtocolTable } from "../../ts/protocol-table";
import { BATCH_FD, FRAME_FD, FakeAddon } from "./fake-addon";

jest.setTimeout(30000);

const READ = ACTION_CODES.read_pending;
const WRITE = ACTION_CODES.write_pending;

/** What Erlang writes on the port: term_to_binary, {packet, 4}. */
const toPort = (...msgs: unknown[]) => Buffer.concat(msgs.map((m) => frame(erlpack.pack(m as never))));

class Exited extends Error {
  constructor(readonly code: number) {
    super(`exit(${code})`);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reactor-port-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A protocol module that echoes with `prefix`; `adopt`: its class takes over live connections. */
function echo(name: string, prefix: string, adopt = false): string {
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(
    file,
    `import { Action, Protocol } from "erlang-reactor";
     export default class Echo extends Protocol {
       ${adopt ? "static adopt(old: Protocol): Protocol { return new Echo(); }" : ""}
       dataReceived(d: Buffer): Action {
         this.writeBuffer.push("${prefix}" + d);
         return "write_pending";
       }
     }`,
  );
  return file;
}

/** A port whose exit records the code, then throws (`throws`: false, where
 * the exit comes from async code: it returns, and the port goes no further). */
function start({ throws = true } = {}) {
  const addon = new FakeAddon();
  const exits = { codes: [] as number[], stopped: 0 };
  const port = new Port(addon, new Outbox(addon, FRAME_FD), new ProtocolTable(), {
    exit: (code) => {
      exits.codes.push(code);
      if (throws) throw new Exited(code);
      return undefined as never;
    },
    stopped: () => exits.stopped++,
  });
  return { addon, port, exits };
}

async function until(cond: () => boolean, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const has = (addon: FakeAddon, msg: unknown) => addon.frames().some((f) => JSON.stringify(f) === JSON.stringify(msg));

/** A port that loaded `protocol` and said ready (Erlang sent the batch socket first). */
async function ready(protocol: string, opts: Record<string, unknown> = {}) {
  const p = start();
  p.addon.channel.push({ ids: [0], fds: [BATCH_FD], truncated: false });
  p.port.receive(toPort(["init", { context: "t", channel: "/run/ch.sock", protocol, setup_code: "", ...opts }]));
  await until(() => has(p.addon, ["ready"]), "ready");
  return p;
}

/** Hands the port connections `id` on `fd` for each [id, fd], plain TCP. */
function handOff({ addon, port }: { addon: FakeAddon; port: Port }, ...conns: [number, number][]): void {
  for (const [id, fd] of conns) addon.sendFd(id, fd);
  port.receive(toPort(...conns.map(([id]) => ["handoff", id, {}, { proxy: false, tls: false }])));
}

describe("Port", () => {
  it("loads the protocol, says ready, and serves a connection over the batch socket", async () => {
    const { addon, port } = await ready(echo("plain", ""));
    expect(addon.channelPath).toBe("/run/ch.sock");
    expect(addon.frames()).toEqual([["ready"]]);

    addon.sendFd(7, 10);
    port.receive(toPort(["handoff", 7, { type: "tcp", addr: "10.0.0.1", port: 4242 }, { proxy: false, tls: false }]));
    expect(addon.actions()).toEqual([[7, ACK + READ]]); // connectionMade: read

    addon.feed(10, "hello");
    addon.ready(7);
    expect(addon.written(10)).toBe("hello");
    // all written: read again; the read was short, so the fd is drained
    expect(addon.actions().at(-1)).toEqual([7, READ + DRAINED]);

    addon.ready({ write: 7 }); // a WRITE event anyway: nothing queued, nothing read since
    expect(addon.actions().at(-1)).toEqual([7, READ + DRAINED]);

    port.receive(toPort(["stats"], ["connections"]));
    const [stats, conns] = addon.frames().slice(-2) as [[string, Record<string, number>], [string, unknown[][]]];
    expect(stats).toEqual(["stats", expect.objectContaining({ connections: 1, bytes_in: 5, bytes_out: 5, events: 3, errors: 0 })]);
    expect(conns[0]).toBe("connections");
    expect(conns[1]).toEqual([[7, 5, 5, expect.any(Number), "reading"]]);

    const sent = addon.actions().length;
    port.receive(toPort(["close", 7, "limit"]));
    expect(addon.closed).toEqual([10]);
    expect(addon.actions()).toHaveLength(sent); // Erlang closed its copy: nothing to tell it
  });

  it("refuses a handoff whose fd did not arrive or was cut off", async () => {
    const { addon, port } = await ready(echo("refuse", ""));
    addon.channel.push({ ids: [9], fds: [], truncated: true }); // MSG_CTRUNC at the fd limit
    port.receive(toPort(["handoff", 8, {}, { proxy: false, tls: false }], ["handoff", 9, {}, { proxy: false, tls: false }]));
    expect(addon.frames().slice(1)).toEqual([
      ["nack", 8, "fd_missing"],
      ["nack", 9, "fd_truncated"],
    ]);
    expect(addon.actions()).toEqual([]);
  });

  it("holds what arrives while the protocol loads, and answers it once ready", async () => {
    const { addon, port } = start();
    addon.channel.push({ ids: [0], fds: [BATCH_FD], truncated: false });
    addon.sendFd(7, 10);
    port.receive(
      toPort(
        ["init", { context: "t", channel: "/run/ch.sock", protocol: echo("early", ""), setup_code: "" }],
        ["handoff", 7, {}, { proxy: false, tls: false }],
        ["stats"],
      ),
    );
    expect(addon.actions()).toEqual([]);
    await until(() => addon.frames().length === 2, "ready and stats");
    expect(addon.frames()).toEqual([["ready"], ["stats", expect.objectContaining({ connections: 1 })]]);
    expect(addon.actions()).toEqual([[7, ACK + READ]]);
  });

  it("reloads: new code for new connections, adopted ones move, a failed load keeps the old", async () => {
    const { addon, port } = await ready(echo("v1", "v1:"));
    addon.sendFd(7, 10);
    port.receive(toPort(["handoff", 7, {}, { proxy: false, tls: false }]));

    port.receive(toPort(["reload", 1, { protocol: echo("v2", "v2:", true), setup_code: "", typecheck: false }]));
    await until(() => addon.frames().length === 2, "reloaded");
    expect(addon.frames()[1]).toEqual(["reloaded", 1, 1]); // one connection adopted
    addon.feed(10, "a");
    addon.ready(7);
    expect(addon.written(10)).toBe("v2:a");

    const broken = path.join(dir, "broken.ts");
    fs.writeFileSync(broken, "export default class {");
    port.receive(toPort(["reload", 2, { protocol: broken, setup_code: "", typecheck: false }]));
    await until(() => addon.frames().length === 3, "reload_error");
    expect(addon.frames()[2]).toEqual([
      "reload_error",
      2,
      "protocol_compile",
      [expect.objectContaining({ file: broken, line: 1, text: expect.any(String) })],
    ]);
    addon.sendFd(8, 11);
    port.receive(toPort(["handoff", 8, {}, { proxy: false, tls: false }]));
    addon.feed(11, "b");
    addon.ready(8);
    expect(addon.written(11)).toBe("v2:b");
  });

  it("says why the protocol did not load, then exits 5", async () => {
    const { addon, port, exits } = start({ throws: false });
    addon.channel.push({ ids: [0], fds: [BATCH_FD], truncated: false });
    const missing = path.join(dir, "missing.ts");
    port.receive(toPort(["init", { context: "t", channel: "/run/ch.sock", protocol: missing, setup_code: "" }]));
    await until(() => exits.codes.length > 0, "the exit");
    expect(exits.codes).toEqual([5]);
    expect(addon.frames()).toEqual([["load_error", "protocol_compile", [expect.objectContaining({ text: expect.stringMatching(/missing\.ts/) })]]]);
    expect(addon.channel).toHaveLength(1); // it went no further: the batch socket is still there
  });

  it("says why the channel did not connect, then exits 4", async () => {
    const { addon, port, exits } = start({ throws: false });
    addon.connectChannel = () => {
      throw new Error("ECONNREFUSED: connection refused");
    };
    port.receive(toPort(["init", { context: "t", channel: "/run/ch.sock", protocol: echo("nochannel", ""), setup_code: "" }]));
    await until(() => exits.codes.length > 0, "the exit");
    expect(exits.codes).toEqual([4]);
    expect(addon.frames()).toEqual([["load_error", "channel", "ECONNREFUSED: connection refused"]]);
  });

  it("exits 4 when the channel's first message is not the batch socket, closing what came", async () => {
    const { addon, port, exits } = start({ throws: false });
    addon.sendFd(3, 20);
    port.receive(toPort(["init", { context: "t", channel: "/run/ch.sock", protocol: echo("nobatch", ""), setup_code: "" }]));
    await until(() => exits.codes.length > 0, "the exit");
    expect(exits.codes).toEqual([4]);
    expect(addon.frames()).toEqual([["load_error", "channel", "the channel's first message is not the batch socket: [3]"]]);
    expect(addon.closed).toEqual([20]);
  });

  it("exits 5 when the context's own TLS configuration cannot be made", async () => {
    const { addon, port, exits } = start({ throws: false });
    addon.channel.push({ ids: [0], fds: [BATCH_FD], truncated: false });
    const tls = { certfile: path.join(dir, "none.pem"), keyfile: path.join(dir, "none.key"), verify: "verify_none", fail_if_no_peer_cert: true };
    port.receive(toPort(["init", { context: "t", channel: "/run/ch.sock", protocol: echo("notls", ""), setup_code: "", tls }]));
    await until(() => exits.codes.length > 0, "the exit");
    expect(exits.codes).toEqual([5]);
    expect(addon.frames()).toEqual([["load_error", "tls", expect.stringMatching(/ENOENT/)]]);
  });

  it("stops: every connection ends, unclaimed fds are closed, then it leaves", async () => {
    const { addon, port, exits } = await ready(echo("stop", ""), { telemetry: true });
    addon.channel.push({ ids: [7, 8], fds: [10, 11], truncated: false }); // 8's handoff never came
    port.receive(toPort(["handoff", 7, {}, { proxy: false, tls: false }]));
    port.receive(toPort(["stop"]));
    expect(addon.closed.sort()).toEqual([10, 11]);
    expect(addon.frames().at(-1)).toEqual(["closed", 7, 0, 0, expect.any(Number), "ESTOPPING: the reactor context is stopping"]);
    expect(exits).toEqual({ codes: [], stopped: 1 });
  });

  it("ends when Erlang's side goes away, closing every connection", async () => {
    const { addon, port, exits } = await ready(echo("gone", ""), { telemetry: true });
    addon.sendFd(7, 10);
    port.receive(toPort(["handoff", 7, {}, { proxy: false, tls: false }]));
    addon.batchClosed = true;
    expect(() => addon.batchEvent(1)).toThrow(Exited);
    expect(exits.codes).toEqual([0]);
    expect(addon.closed).toEqual([10]);
  });

  it("keeps answers in order while Erlang's end of the batch socket is full", async () => {
    const { addon, port } = await ready(echo("full", ""));
    addon.sendFd(7, 10);
    addon.full = true;
    port.receive(toPort(["handoff", 7, {}, { proxy: false, tls: false }]));
    expect(addon.wantsWritable).toBe(true);
    addon.full = false; // room again, but the port has not been told yet
    addon.feed(10, "x");
    addon.ready(7);
    expect(addon.actions()).toEqual([]); // behind the ack, not before it
    addon.batchEvent(2);
    expect(addon.actions()).toEqual([
      [7, ACK + READ],
      [7, READ + DRAINED],
    ]);
    expect(addon.wantsWritable).toBe(false);
  });

  it.each([
    ["a frame that is not ETF", frame(Buffer.from([131, 255, 1])), /^port exiting: undecodable frame: /],
    ["a message it does not know", toPort(["bogus", 1]), /^port exiting: malformed message: \["bogus",1\]$/],
    ["a frame over the size limit", Buffer.from([0xff, 0xff, 0xff, 0xff]), /^port exiting: frame of 4294967295 bytes exceeds the \d+-byte limit$/],
  ])("ends on %s, saying why", (_what, bytes, why) => {
    const { addon, port, exits } = start();
    expect(() => port.receive(bytes)).toThrow(Exited);
    expect(exits.codes).toEqual([3]);
    expect(addon.frames()).toEqual([["log", "error", null, expect.stringMatching(why)]]);
  });

  it("serves a ready batch in slices, a callback each, whose answers leave at its end", async () => {
    const p = await ready(echo("slices", ""));
    const { addon } = p;
    handOff(p, [7, 10], [8, 11]);
    const before = addon.actionBatches.length;
    addon.feed(10, "a");
    addon.feed(11, "b");
    const calls = addon.ready(7, 8); // one slice, or two where serving 7 took past ANSWER_AFTER_MS
    expect(addon.written(10) + addon.written(11)).toBe("ab");
    const packets = addon.actionBatches.slice(before);
    expect(packets).toHaveLength(calls);
    expect(packets.flat()).toEqual([
      [7, READ + DRAINED],
      [8, READ + DRAINED],
    ]);
  });

  it("reads its input a frame per call, and ends once the frames before the end are done", async () => {
    const { addon, port, exits } = await ready(echo("input", ""));
    addon.feed(INPUT_FD, toPort(["stats"], ["connections"]));
    expect(port.onInput(1)).toBe(true);
    expect(port.onInput(0)).toBe(false);
    expect(addon.frames().slice(-2).map((f) => (f as unknown[])[0])).toEqual(["stats", "connections"]);
    addon.feed(INPUT_FD, toPort(["stats"]), "eof");
    expect(() => port.onInput(1)).toThrow(Exited);
    expect(addon.frames().at(-1)).toEqual(["stats", expect.anything()]);
    expect(exits.codes).toEqual([0]); // Erlang went away: everything closed, then exit(0)
  });

  it("takes a batch of frames as the frames in it, in order", async () => {
    const { addon, port } = await ready(echo("batched", ""));
    const payloads = [erlpack.pack(["stats"] as never), erlpack.pack(["connections"] as never)];
    port.receive(frame(Buffer.concat([Buffer.of(BATCH_TAG), ...payloads.map(frame)])));
    expect(addon.frames().slice(-2).map((f) => (f as unknown[])[0])).toEqual(["stats", "connections"]);
  });

  it("ends on a malformed batch, saying why", () => {
    const { addon, port, exits } = start();
    expect(() => port.receive(frame(Buffer.of(BATCH_TAG, 0, 0, 0, 9, 1)))).toThrow(Exited);
    expect(exits.codes).toEqual([3]);
    expect(addon.frames()).toEqual([["log", "error", null, "port exiting: a batch's frame of 9 bytes does not fit it"]]);
  });

  it("ends on a malformed ready batch, and on a second init", async () => {
    const a = await ready(echo("badbatch", ""));
    a.addon.readyBatches.push(new Uint8Array(3));
    expect(() => a.addon.batchEvent(1)).toThrow(Exited);
    expect(a.exits.codes).toEqual([3]);
    expect(a.addon.frames().at(-1)).toEqual(["log", "error", null, "port exiting: malformed ready batch: 3 bytes"]);

    const b = await ready(echo("twice", ""));
    expect(() => b.port.receive(toPort(["init", { channel: "/run/ch.sock" }]))).toThrow(Exited);
    expect(b.addon.frames().at(-1)).toEqual(["log", "error", null, "port exiting: init received twice"]);
  });

  it("serves a slice corked: every ready connection read, then their writes, then the answers (cork.ts)", async () => {
    const p = await ready(echo("corked", ""));
    const { addon } = p;
    handOff(p, [7, 10], [8, 11]);
    const log: string[] = [];
    const read = addon.readInto.bind(addon);
    addon.readInto = (fd, buf, off, len) => {
      const n = read(fd, buf, off, len);
      if (n > 0) log.push(`read ${fd}`);
      return n;
    };
    const writev = addon.writev.bind(addon);
    addon.writev = (fd, bufs) => (log.push(`write ${fd}`), writev(fd, bufs));
    const send = addon.sendPacket.bind(addon);
    addon.sendPacket = (fd, buf, length) => (log.push("answers"), send(fd, buf, length));
    addon.feed(10, "a");
    addon.feed(11, "b");
    const now = jest.spyOn(performance, "now").mockReturnValue(0); // one slice, however slow
    try {
      addon.ready(7, 8);
    } finally {
      now.mockRestore();
    }
    expect(log).toEqual(["read 10", "read 11", "write 10", "write 11", "answers"]);
    expect([addon.written(10), addon.written(11)]).toEqual(["a", "b"]);
    expect(addon.actions().slice(-2)).toEqual([
      [7, READ + DRAINED],
      [8, READ + DRAINED],
    ]);
  });

  it("holds the clock for each connection's turn in a slice, and lets it go after (RealClock.hold)", async () => {
    const p = await ready(echo("held", ""));
    const { addon } = p;
    handOff(p, [7, 10], [8, 11]);
    const seen: number[][] = []; // the clock twice at each read
    const read = addon.readInto.bind(addon);
    const at = (): number => realClock.now() - performance.timeOrigin;
    addon.readInto = (fd, buf, off, len) => (seen.push([at(), at()]), read(fd, buf, off, len));
    addon.feed(10, "a");
    addon.feed(11, "b");
    let t = 0;
    const now = jest.spyOn(performance, "now").mockImplementation(() => (t += 0.01)); // one slice: 0.1 ms
    try {
      addon.ready(7, 8);
      // each performance.now() adds 0.01: the slice reads it as 7's turn
      // begins and as 8's does, and nothing else reads it in between
      expect(seen.length).toBe(2);
      expect(seen[0][0]).toBeCloseTo(0.01);
      expect(seen[0][1]).toBe(seen[0][0]);
      expect(seen[1][0]).toBeCloseTo(0.02);
      expect(seen[1][1]).toBe(seen[1][0]);
      t = 50;
      expect(realClock.now() - performance.timeOrigin).toBeCloseTo(50.01); // released
    } finally {
      now.mockRestore();
    }
    expect([addon.written(10), addon.written(11)]).toEqual(["a", "b"]);
  });

  it("writes a write_pending answer when the peer does not take everything", async () => {
    const { addon, port } = await ready(echo("slow", ""));
    addon.sendFd(7, 10);
    port.receive(toPort(["handoff", 7, {}, { proxy: false, tls: false }]));
    addon.fd(10).room = 2;
    addon.feed(10, "hello");
    addon.ready(7);
    // the echo was held until the slice's end (cork.ts): the answer had gone
    // by then, and WRITE is armed for the rest on the next ticks
    expect(addon.written(10)).toBe("he");
    expect(addon.actions().at(-1)).toEqual([7, READ + DRAINED]);
    await new Promise(setImmediate); // the connection settles
    await new Promise(setImmediate); // the outbox flushes
    expect(addon.actions().at(-1)).toEqual([7, WRITE]);
    addon.fd(10).room = undefined;
    addon.ready({ write: 7 });
    expect(addon.written(10)).toBe("hello");
    // "hello" was read whole before the WRITE phase: what came since is the poller's edge
    expect(addon.actions().at(-1)).toEqual([7, READ + DRAINED]);
  });
});

describe("redirectConsole", () => {
  it("turns console output and stray stdout writes into log frames of the running connection", () => {
    const addon = new FakeAddon();
    const out = new Outbox(addon, FRAME_FD);
    const restore = redirectConsole(out, () => 7);
    try {
      console.log("hello %d", 42);
      console.warn("careful");
      process.stdout.write("raw line\n");
    } finally {
      restore();
    }
    out.flush();
    expect(addon.frames()).toEqual([
      ["log", "notice", 7, "hello 42"],
      ["log", "warning", 7, "careful"],
      ["log", "notice", 7, "raw line"],
    ]);
  });
});
