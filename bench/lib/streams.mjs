// The stream handlers' scenarios (issue 20, item 9) and the peers they are measured against:
//   Node's http hello world (bench/http_stream.ts) served through the reactor's streams:
//   a context loads the module, every connection the BEAM accepts is a Socket emitted as
//   the server's 'connection'     vs the same server listening on Node's own net
//   wrk with 100 connections, keep-alive and Connection: close;
//   ws's echo (examples/ws-chat/chat.ts, ws behind Node's http, its /echo) the same way
//                                 vs the same module listening on Node's own net
//   loadgen ws: 50 connections, one 64-byte message in flight each.
// The target is the issue's: at least 1.0x, reported as met or not (never tuned for).
import { existsSync } from "fs";
import { join } from "path";

export const REACTOR = "reactor, 1 context";
export const NODE_HTTP = "node http";
export const NODE_NET = "node net (same protocol)";
/** The protocols a reactor system serves for these scenarios. */
export const STREAM_PROTOS = ["http_stream", "ws"];

/** Whether a tree has stream handlers (an older one, under --compare, may not). */
export const hasStreams = (root) => existsSync(join(root, "ts", "stream.ts"));

/** The module a reactor system loads for `proto`, from this tree: bench/http_stream.ts, or
 * for ws the example with its own npm packages (.ci/install-example-deps installs them). */
export const streamModule = (root, proto) =>
  proto === "ws" ? join(root, "examples", "ws-chat", "chat.ts") : join(root, "bench", "http_stream.ts");

/**
 * The scenarios; `wrk(port, load)` runs wrk, `loadgen(mode, port, ...args)` bench/build/loadgen,
 * for the run's seconds. `streams`: reported in a table of their own; `peer`: the system the
 * ratio is to; `goal`: the target.
 */
export function streamScenarios({ wrk, loadgen }) {
  const common = { proto: "http_stream", unit: "req/s", streams: true, peer: NODE_HTTP, goal: 1, only: [REACTOR, NODE_HTTP] };
  return [
    { ...common, name: "node:http on streams, keep-alive, wrk, 100 conns", run: (port) => wrk(port, ["-c100"]) },
    {
      ...common,
      name: "node:http on streams, Connection: close, wrk, 100 conns",
      run: (port) => wrk(port, ["-c100", "-H", "Connection: close"]),
    },
    {
      name: "ws echo on streams, 50 conns x 1 in flight, 64 B",
      proto: "ws",
      unit: "msg/s",
      streams: true,
      peer: NODE_NET,
      goal: 1,
      only: [REACTOR, NODE_NET],
      run: (port) => loadgen("ws", port, 50, 1, 64),
    },
  ];
}
