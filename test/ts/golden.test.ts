// The other half of the golden frames (see test/erlang/reactor_wire_golden_tests.erl):
// Node decodes what Erlang wrote (to_node_*.etf) and writes what it sends
// (from_node_*.etf), byte for byte. REACTOR_GOLDEN=write rewrites this side's files.
// The facts C, Erlang and Node share have one home, native/reactor_shared.h:
// "shared facts" holds Node's copies to it (the Erlang test, Erlang's).
import * as fs from "fs";
import * as path from "path";
import {
  ACK,
  DRAINED,
  ACTION_CODES,
  ACTION_ENTRY_BYTES,
  ActionBatch,
  MAX_ACTIONS_PER_BATCH,
  MAX_READY_PER_BATCH,
  READY_ENTRY_BYTES,
  READY_WRITE_BIT,
  ReadyQueue,
  readyBuffer,
} from "../../ts/batch";
import { BRIDGE_TAG, Bridge } from "../../ts/bridge";
import { Incoming, Outgoing, decode, encode } from "../../ts/codec";
import { Outbox } from "../../ts/outbox";
import { Term, atom, decodeTerm, encodeTerm, tuple } from "../../ts/term";
import { DEFAULTS, MAX_GROUPS_PER_CONNECTION, MAX_GROUP_BYTES, MAX_ID, MAX_READ_SIZE, MAX_TERM_DEPTH, MAX_TERM_SIZE } from "../../ts/limits";

const dir = path.join(__dirname, "..", "golden");
const file = (name: string) => path.join(dir, `${name}.etf`);

// What Erlang's frames must mean here (the Erlang side builds them).
const toNode: Record<string, Incoming> = {
  init: {
    type: "init",
    config: {
      context: "golden",
      channel: "/tmp/reactor-1-00/fd.sock",
      protocol: "/srv/echo.ts",
      setupCode: "",
      readSize: 1048576,
      writeHighWater: 65536,
      callbackTimeout: 5000,
      idleTimeout: 0,
      closeTimeout: 7000,
      lingerTimeout: 250,
      lingerMaxBytes: 1048576,
      maxQueuedMessages: 1000, // the default: the golden frame has none
      typecheck: false,
      telemetry: false,
      maxBeamCalls: 1024,
      beamCallTimeout: 5000,
      self: undefined,
      tls: undefined,
    },
  },
  handoff: {
    type: "handoff",
    id: 7,
    info: { addr: "10.0.0.1", port: 4242, type: "tcp", tag: "web", listener: "web" },
    transport: { proxy: false, tls: false },
  },
  handoff_proxy_tls: { type: "handoff", id: 8, info: { addr: "10.0.0.2", port: 1 }, transport: { proxy: true, tls: 3 } },
  handoff_nodelay: { type: "handoff", id: 11, info: { type: "tcp" }, transport: { proxy: false, tls: false, nodelay: true } },
  handoff_preread: {
    type: "handoff",
    id: 10,
    info: { type: "tcp" },
    transport: { proxy: false, tls: false, preread: Buffer.from([...Buffer.from("DATA1\n"), 0, 255, 195]) },
  },
  tls_config: {
    type: "tls_config",
    key: 3,
    options: {
      certfile: "/etc/c.pem",
      keyfile: "/etc/k.pem",
      cacertfile: undefined,
      verify: "verify_peer",
      fail_if_no_peer_cert: false,
      alpn: ["h2", "http/1.1"],
      handshake_timeout: 2500,
    },
  },
  close: { type: "close", id: 9, reason: "closed by Erlang" },
  stats: { type: "stats" },
  connections: { type: "connections" },
  reload: { type: "reload", ref: 4, protocol: "/srv/v2.ts", setupCode: "", typecheck: false },
  stop: { type: "stop" },
};

// What Node sends (the Erlang side says what it makes of each).
const fromNode: Record<string, Outgoing> = {
  ready: ["ready"],
  nack: ["nack", 8, "fd_missing"],
  log: ["log", "notice", 5, "got ping"],
  log_context: ["log", "error", null, "port exiting"],
  stats: [
    "stats",
    {
      connections: 2,
      bytes_in: 10,
      bytes_out: 20,
      events: 30,
      errors: 0,
      buffered: 0,
      tls_queued: 0,
      messages_delivered: 40,
      messages_queued: 3,
      sent_to_ended: 1,
    },
  ],
  reloaded: ["reloaded", 4, 2],
  reload_error: ["reload_error", 5, "no_protocol", "v3.ts yields no protocol"],
  connections: ["connections", [[1, 10, 20, 1500, "reading"], [2, 0, 0, 3, "opening"]]],
  closed: ["closed", 9, 100, 200, 42, ""],
  closed_reason: ["closed", 9, 1, 0, 7, "ECONNRESET: read ECONNRESET"],
  exception: ["exception", 3, "dataReceived", "Error: boom\n    at x.ts:1:1"],
  load_error: ["load_error", "protocol_compile", [{ file: "/srv/bad.ts", line: 3, column: 7, text: 'Expected ";"' }]],
};

// The bridge (bridge.ts): what Erlang's bridge frames must decode to here, and
// the frames a Bridge writes, each made by the Bridge itself.
const toNodeBridge: Record<string, Term> = {
  bridge_call: tuple(atom("call"), 7, Buffer.from("add"), [1, 2]),
  bridge_eval: tuple(atom("eval"), 8, Buffer.from("1 + 2")),
  bridge_reply_ok: tuple(atom("reply"), 3, atom("ok"), tuple(atom("ok"), Buffer.from([0, 255]), 1n << 70n)),
  bridge_reply_error: tuple(atom("reply"), 4, atom("error"), tuple(atom("no_function"), Buffer.from('no function is registered as "x"'))),
  bridge_message: tuple(atom("message"), 5, tuple(Buffer.from("hi"), [1, 2.5])),
  bridge_publish: tuple(atom("publish"), Buffer.from("room"), Buffer.from([0, 255])),
};

/** The frame the Outbox writes for a connection's join or leave. */
async function outboxWrites(act: (o: Outbox) => void): Promise<Buffer> {
  const frames: Buffer[] = [];
  const o = new (class extends Outbox {
    sendFrame(p: Buffer): void {
      frames.push(p);
    }
  })({ writeAll: () => undefined, sendPacket: () => true, wantWritable: () => undefined }, 1);
  act(o);
  expect(frames).toHaveLength(1);
  return frames[0];
}

/** The frames `act` makes a Bridge write, whose exports are `fns`. */
async function bridgeWrites(act: (b: Bridge) => void, fns: Record<string, (...a: unknown[]) => unknown> = {}): Promise<Buffer> {
  const frames: Buffer[] = [];
  const b = new Bridge({ sendFrame: (p) => frames.push(p), wake: () => undefined }, { exported: (n) => fns[n] }, { maxBeamCalls: 4, beamCallTimeout: 5000 });
  act(b);
  await new Promise((r) => setImmediate(r));
  expect(frames).toHaveLength(1);
  return frames[0];
}
const erlangCalls = (id: number, name: string, ...args: unknown[]) => (b: Bridge) =>
  b.receive(encodeTerm(tuple(atom("call"), id, Buffer.from(name), args)));

const fromNodeBridge: Record<string, () => Promise<Buffer>> = {
  bridge_result_ok: () => bridgeWrites(erlangCalls(7, "f"), { f: () => tuple(atom("ok"), Buffer.from([0, 255]), 1n << 70n) }),
  bridge_result_exception: () =>
    bridgeWrites(erlangCalls(9, "f"), {
      f: () => {
        const e = new Error("boom");
        e.stack = "Error: boom\n    at x.ts:1:1";
        throw e;
      },
    }),
  bridge_result_no_function: () => bridgeWrites(erlangCalls(10, "nope")),
  bridge_call: () => bridgeWrites((b) => void b.call("auth.check", ["tok"], {}).catch(() => undefined)),
  bridge_send: () => bridgeWrites((b) => b.send("logger_proc", tuple(atom("hello"), Buffer.from([1, 2])))),
  bridge_join: () => outboxWrites((o) => o.joined(3, Buffer.from("room"))),
  bridge_leave: () => outboxWrites((o) => o.left(3, Buffer.from("room"))),
  bridge_publish: () => bridgeWrites((b) => b.publish(Buffer.from("room"), tuple(atom("hi"), 1))),
};

describe("golden frames", () => {
  it.each(Object.entries(toNodeBridge))("decodes Erlang's %s frame", (name, want) => {
    const frame = fs.readFileSync(file(`to_node_${name}`));
    expect(frame[0]).toBe(BRIDGE_TAG);
    expect(decodeTerm(frame.subarray(1))).toEqual(want);
  });

  it.each(Object.entries(fromNodeBridge))("writes the %s frame Erlang expects", async (name, make) => {
    const frame = await make();
    if (process.env.REACTOR_GOLDEN === "write") fs.writeFileSync(file(`from_node_${name}`), frame);
    expect(frame.equals(fs.readFileSync(file(`from_node_${name}`)))).toBe(true);
  });

  it("has a case for every golden file", () => {
    const cases = [
      ...Object.keys({ ...toNode, ...toNodeBridge }).map((n) => `to_node_${n}`),
      ...Object.keys({ ...fromNode, ...fromNodeBridge }).map((n) => `from_node_${n}`),
    ];
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".etf")).map((f) => f.slice(0, -4));
    expect(cases.sort()).toEqual(files.sort());
  });

  it.each(Object.entries(toNode))("decodes Erlang's %s frame", (name, want) => {
    expect(decode(fs.readFileSync(file(`to_node_${name}`)))).toEqual(want);
  });

  it.each(Object.entries(fromNode))("writes the %s frame Erlang expects", (name, msg) => {
    const frame = encode(msg);
    if (process.env.REACTOR_GOLDEN === "write") fs.writeFileSync(file(`from_node_${name}`), frame);
    expect(frame.equals(fs.readFileSync(file(`from_node_${name}`)))).toBe(true);
  });
});

// The batch socket's layout, held together the same way: Node writes
// batch_actions.bin (reactor_poller_tests feeds it to the NIF), the NIF wrote
// batch_ready.bin (two ready batches: id 7 for reading, then MAX_ID for writing).
describe("golden batches", () => {
  const bin = (name: string) => path.join(dir, `${name}.bin`);

  it("writes the action batch the NIF expects", () => {
    const b = new ActionBatch();
    b.push(7, "write_pending", true);
    b.push(1, "read_pending");
    b.push(2, "write_pending");
    b.push(3, "close");
    const packets = b.take();
    expect(packets).toHaveLength(1);
    const bytes = Buffer.from(packets[0]);
    if (process.env.REACTOR_GOLDEN === "write") fs.writeFileSync(bin("batch_actions"), bytes);
    expect(bytes.equals(fs.readFileSync(bin("batch_actions")))).toBe(true);
  });

  it("reads the NIF's ready batches", () => {
    const golden = fs.readFileSync(bin("batch_ready"));
    const buf = readyBuffer();
    const seen: [number, boolean][] = [];
    const q = new ReadyQueue();
    for (let off = 0; off < golden.length; off += 4) {
      buf.set(golden.subarray(off, off + 4));
      q.push(buf, 4);
      const w = q.shift();
      seen.push([(w & ~READY_WRITE_BIT) >>> 0, w >= READY_WRITE_BIT]);
    }
    expect(seen).toEqual([
      [7, false],
      [0x7fffffff, true],
    ]);
  });
});

// native/reactor_shared.h as { NAME: value }: its `#define REACTOR_NAME VALUE`
// lines, the prefix dropped. A define of another shape throws, never skipped.
function sharedFacts(): Record<string, number> {
  const header = fs.readFileSync(path.join(__dirname, "..", "..", "native", "reactor_shared.h"), "utf8");
  const facts: Record<string, number> = {};
  for (const line of header.split("\n")) {
    if (!line.startsWith("#define REACTOR_") || line === "#define REACTOR_SHARED_H") continue;
    const m = /^#define REACTOR_([A-Z0-9_]+) +(0x[0-9a-fA-F]+|[0-9]+)u?$/.exec(line);
    if (!m) throw new Error(`not a fact: ${line}`);
    facts[m[1]] = Number(m[2]);
  }
  return facts;
}

describe("shared facts", () => {
  const facts = sharedFacts();
  const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
  // Node's copy of each fact it shares, by the header's name.
  const node: Record<string, number> = {
    MAX_ID,
    MAX_TERM_SIZE,
    MAX_TERM_DEPTH,
    MAX_READ_SIZE,
    MAX_GROUP_BYTES,
    MAX_GROUPS_PER_CONNECTION,
    READY_ENTRY_BYTES,
    READY_WRITE_BIT,
    READY_MAX: MAX_READY_PER_BATCH,
    ACTION_ENTRY_BYTES,
    ACTIONS_MAX: MAX_ACTIONS_PER_BATCH,
    ACTION_ACK: ACK,
    ACTION_DRAINED: DRAINED,
    ...Object.fromEntries(Object.entries(ACTION_CODES).map(([a, code]) => [`ACTION_${a.toUpperCase()}`, code])),
    ...Object.fromEntries(Object.entries(DEFAULTS).map(([k, v]) => [`DEFAULT_${snake(k)}`, v])),
  };
  // Not Node's to copy: the addon includes the header itself.
  const notNodes = ["MAX_FDS_PER_MSG"];

  it.each(Object.entries(node))("%s is the header's", (name, value) => {
    expect([name, value]).toEqual([name, facts[name]]);
  });

  it("names every fact of the header, and no other", () => {
    expect(Object.keys(node).concat(notNodes).sort()).toEqual(Object.keys(facts).sort());
  });

  it("has a code for each action Node sends, and none for continue", () => {
    expect(Object.keys(ACTION_CODES).sort()).toEqual(["close", "linger", "read_pending", "write_pending"]);
    expect(Object.values(ACTION_CODES)).not.toContain(1);
  });
});
