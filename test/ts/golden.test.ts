// The other half of the golden frames (see test/erlang/reactor_wire_golden_tests.erl):
// Node decodes what Erlang wrote (to_node_*.etf) and writes what it sends
// (from_node_*.etf), byte for byte. REACTOR_GOLDEN=write rewrites this side's files.
import * as fs from "fs";
import * as path from "path";
import { ActionBatch, forEachReady, readyBuffer } from "../../ts/batch";
import { Incoming, Outgoing, decode, encode } from "../../ts/codec";

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
      typecheck: false,
      telemetry: false,
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
  stats: ["stats", { connections: 2, bytes_in: 10, bytes_out: 20, events: 30, errors: 0, buffered: 0, tls_queued: 0 }],
  reloaded: ["reloaded", 4, 2],
  reload_error: ["reload_error", 5, "no_protocol", "v3.ts yields no protocol"],
  connections: ["connections", [[1, 10, 20, 1500, "reading"], [2, 0, 0, 3, "opening"]]],
  closed: ["closed", 9, 100, 200, 42, ""],
  closed_reason: ["closed", 9, 1, 0, 7, "ECONNRESET: read ECONNRESET"],
  exception: ["exception", 3, "dataReceived", "Error: boom\n    at x.ts:1:1"],
  load_error: ["load_error", "protocol_compile", [{ file: "/srv/bad.ts", line: 3, column: 7, text: 'Expected ";"' }]],
};

describe("golden frames", () => {
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
    for (let off = 0; off < golden.length; off += 4) {
      buf.set(golden.subarray(off, off + 4));
      forEachReady(buf, 4, (id, write) => seen.push([id, write]));
    }
    expect(seen).toEqual([
      [7, false],
      [0x7fffffff, true],
    ]);
  });
});
