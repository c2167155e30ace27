// The servers make bench measures, and starting and stopping them. A reactor system runs
// one build of erlang-reactor (a tree where `make all` has run); the peers (plain Node,
// plain Erlang, C) and bench_servers.beam come from this tree's bench/build.
import { spawn } from "child_process";
import { existsSync, readFileSync } from "fs";
import { join } from "path";
import { BRIDGE_PROTOS, hasBridge, jsonPortSystems } from "./bridge.mjs";
import { STREAM_PROTOS, hasStreams, streamModule } from "./streams.mjs";

/** The command that runs `expr` in a BEAM with `ebin` on its code path, as every Erlang server here is run. */
export const erl = (ebin, expr) => ["erl", ["-noshell", "+sbwt", "none", ...ebin.flatMap((d) => ["-pa", d]), "-eval", expr]];

/**
 * The reactor's systems on one build. `tree`: { root, label }; its examples/ supply the
 * protocols (they follow its TypeScript API), or this tree's where it lacks one.
 * `build`: this tree's bench/build (bench_servers.beam, bench_bridge.beam). `full`: left
 * out of smoke runs. One context also serves the bridge's scenarios (bench/lib/bridge.mjs)
 * when the build has the bridge, with this tree's bench/bridge.ts, and the stream
 * handlers' (bench/lib/streams.mjs) when it has those, with this tree's bench/http_stream.ts.
 */
export function reactorSystems(tree, build, fallbackRoot) {
  const ebin = [join(tree.root, "_build/default/lib/reactor/ebin"), build];
  const example = (p) => {
    const own = join(tree.root, "examples", p + ".ts");
    return existsSync(own) ? own : join(fallbackRoot, "examples", p + ".ts");
  };
  const module = (p) => (STREAM_PROTOS.includes(p) ? streamModule(fallbackRoot, p) : example(p));
  const reactor = (pool) => (port, p) =>
    BRIDGE_PROTOS.includes(p)
      ? erl(ebin, `bench_bridge:reactor(${port}, ${p}, "${join(fallbackRoot, "bench", "bridge.ts")}")`)
      : erl(ebin, `bench_servers:reactor(${port}, "${module(p)}", ${pool})`);
  const bridge = hasBridge(tree.root) ? BRIDGE_PROTOS : [];
  const streams = hasStreams(tree.root) ? STREAM_PROTOS : [];
  return [
    { name: "reactor, 1 context", reactor: true, tree, protos: ["echo", "http", "resp", ...bridge, ...streams], start: reactor(1) },
    { name: "reactor, pool of 2", reactor: true, tree, protos: ["echo", "http", "resp"], start: reactor(2), full: true },
  ];
}

/**
 * Everything else, from `build`: `baseline` (plain Node on the same protocol logic: every
 * ratio's denominator but the bridge's and node:http's on streams; on ws, their peer, it
 * loads and listens with examples/ws-chat/chat.ts, the module the reactor serves),
 * `second` (Node's own http: HTTP's second denominator, and node:http on streams' peer,
 * serving bench/http_stream.ts), and the bridge's peers: the JSON port, and plain Node's
 * fan-out loop (bench/node_fanout.mjs) as `node net` on publish.
 */
export function peerSystems(build) {
  const node = (port, p) =>
    p === "publish" ? ["node", [join(build, "..", "node_fanout.mjs"), port]] : ["node", [join(build, "node_server.js"), "net", port, p]];
  return [
    { name: "node net (same protocol)", protos: ["echo", "http", "resp", "ws", "publish"], start: node, baseline: true },
    { name: "node http", protos: ["http", "http_stream"], start: (port) => ["node", [join(build, "node_server.js"), "http", port]], second: true },
    { name: "erlang gen_tcp", protos: ["echo", "http"], start: (port, p) => erl([build], `bench_servers:gen_tcp(${port}, ${p})`), full: true },
    { name: "c epoll", protos: ["echo", "http"], start: (port, p) => [join(build, "c_server"), [p, port]], full: true },
    ...jsonPortSystems(build, erl),
  ];
}

/** CPU seconds (user + system) `pid` has used so far; 0 once it is gone. */
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return 0;
  }
}

/** Starts `system` serving `proto`; resolves to { child, port, pids } once it listens. */
export async function start(system, proto) {
  // port 0: each server picks a free port and says which ("READY port=N")
  const [cmd, argv] = system.start(0, proto);
  const child = spawn(cmd, argv.map(String), { stdio: ["pipe", "pipe", "inherit"] });
  const { port, pids } = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${system.name} did not start`));
    }, 30000);
    child.stdout.on("data", (d) => {
      buf += d;
      const m = /READY port=(\d+)(?: pids=([\d,]*))?/.exec(buf);
      if (m) {
        clearTimeout(timer);
        const children = (m[2] ?? "").split(",").filter(Boolean).map(Number);
        resolve({ port: Number(m[1]), pids: [child.pid, ...children] });
      }
    });
    child.on("exit", (c) => reject(new Error(`${system.name} exited with ${c}\n${buf}`)));
  });
  return { child, port, pids };
}

/** Kills a started system and waits until it (and the Node processes it ran) are gone. */
export async function stop(s) {
  const gone = new Promise((r) => s.child.on("exit", r));
  s.child.kill("SIGKILL");
  await gone;
  await new Promise((r) => setTimeout(r, 300)); // its Node processes see stdin close and exit
}
