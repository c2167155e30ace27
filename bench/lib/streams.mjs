// The stream handlers' scenarios (issue 20, item 9) and the peer they are measured against:
//   Node's http hello world (bench/http_stream.ts) served through the reactor's streams:
//   a context loads the module, every connection the BEAM accepts is a Socket emitted as
//   the server's 'connection'     vs the same server listening on Node's own net
// wrk with 100 connections, keep-alive and Connection: close. The target is the issue's:
// at least 1.0x, reported as met or not (never tuned for).
import { existsSync } from "fs";
import { join } from "path";

export const REACTOR = "reactor, 1 context";
export const NODE_HTTP = "node http";
/** The protocols a reactor system serves for these scenarios. */
export const STREAM_PROTOS = ["http_stream"];

/** Whether a tree has stream handlers (an older one, under --compare, may not). */
export const hasStreams = (root) => existsSync(join(root, "ts", "stream.ts"));

/** The module a reactor system loads for them: this tree's bench/http_stream.ts. */
export const streamModule = (root) => join(root, "bench", "http_stream.ts");

/**
 * The scenarios; `wrk(port, load)` runs wrk for the run's seconds. `streams`: reported in a
 * table of their own; `peer`: the system the ratio is to; `goal`: the target.
 */
export function streamScenarios({ wrk }) {
  const common = { proto: "http_stream", unit: "req/s", streams: true, peer: NODE_HTTP, goal: 1, only: [REACTOR, NODE_HTTP] };
  return [
    { ...common, name: "node:http on streams, keep-alive, wrk, 100 conns", run: (port) => wrk(port, ["-c100"]) },
    {
      ...common,
      name: "node:http on streams, Connection: close, wrk, 100 conns",
      run: (port) => wrk(port, ["-c100", "-H", "Connection: close"]),
    },
  ];
}
