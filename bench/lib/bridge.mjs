// The bridge's scenarios (issue 19, item 8) and the peers they are measured against:
//   reactor_context:call from 50 Erlang callers    vs elixir-nodejs's design (JSON lines, one call
//                                                  in flight per Node), and a JSON port that
//                                                  multiplexes every caller's call on its one Node
//   beam.call from 50 async loops in TypeScript    (no peer: the figure itself)
//   publish to 1,000 members of one context        vs plain Node writing to 1,000 sockets
// Servers: bench_bridge.erl (with bench/bridge.ts), bench_json_port.erl with
// bench/json_port.mjs, bench/node_fanout.mjs. docs/performance.md has the method.
import { existsSync } from "fs";
import { connect } from "net";
import { join } from "path";

export const REACTOR = "reactor, 1 context";
export const NODE = "node net (same protocol)";
export const JSON_PORT = "elixir-nodejs design (1 worker)";
export const JSON_MUX = "json port, multiplexed";
/** The protocols a reactor system serves for these scenarios (bench_bridge:reactor/3's kinds). */
export const BRIDGE_PROTOS = ["call", "beam_call", "publish"];

/** Whether a build has the bridge (an older one, under --compare, may not). */
export const hasBridge = (root) => existsSync(join(root, "_build/default/lib/reactor/ebin/reactor_bridge.beam"));

/**
 * The scenarios; `loadgen(mode, port, ...args)` runs bench/build/loadgen for the run's seconds.
 * `bridge`: reported in the bridge table; `peer`: the system its ratio is to; `goal`: the
 * issue's target for the reactor's ratio to that peer (reported, not tuned for).
 */
export function bridgeScenarios({ loadgen, seconds, smoke }) {
  const members = smoke ? 100 : 1000;
  return [
    {
      name: "call: 50 Erlang callers, a small term there and back",
      proto: "call",
      unit: "calls/s",
      bridge: true,
      peer: JSON_PORT,
      goal: 2,
      only: [REACTOR, JSON_PORT, JSON_MUX],
      run: (port) => control(port, seconds),
    },
    {
      name: "beam.call: 50 async loops in TypeScript, a small term",
      proto: "beam_call",
      unit: "calls/s",
      bridge: true,
      only: [REACTOR],
      run: (port) => control(port, seconds),
    },
    {
      name: `publish: 64 B to ${members} members of one context`,
      proto: "publish",
      unit: "msg/s",
      bridge: true,
      peer: NODE,
      goal: 0.8,
      only: [REACTOR, NODE],
      run: (port) => loadgen("sink", port, members, 64),
    },
  ];
}

/** The peers for call (bench_json_port, through bench_bridge:json_port/3): elixir-nodejs's
 * own design, one call in flight per Node process (the target's peer), and one that
 * multiplexes every call on its Node, told apart by id. */
export function jsonPortSystems(build, erl) {
  const script = join(build, "..", "json_port.mjs");
  const system = (name, mode) => ({
    name,
    protos: ["call"],
    start: (port) => erl([build], `bench_bridge:json_port(${port}, "${script}", ${mode})`),
  });
  return [system(JSON_PORT, "sync"), system(JSON_MUX, "multiplexed")];
}

/**
 * One run on a control port (bench_bridge.erl): sends the seconds, resolves with the
 * server's figures, { rate, p50, p99 (µs), errors }.
 */
export function control(port, seconds) {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => s.write(`${seconds}\n`));
    let answer = "";
    s.setEncoding("utf8");
    s.setTimeout((seconds + 60) * 1000, () => s.destroy(new Error(`no answer in ${seconds + 60} s`)));
    s.on("data", (d) => (answer += d));
    s.on("error", reject);
    s.on("end", () => {
      try {
        const { rate, p50, p99, errors } = JSON.parse(answer);
        resolve({ rate, p50, p99, errors });
      } catch {
        reject(new Error(`the control port answered ${JSON.stringify(answer)}`));
      }
    });
  });
}
