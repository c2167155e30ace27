// The work make bench puts on every system: the scenarios and the load generators behind
// them (bench/build/loadgen, its ws mode included, wrk, redis-benchmark). Each returns one run's figures:
// { rate, p50, p99 (µs), errors }.
import { execFileSync } from "child_process";
import { join } from "path";
import { bridgeScenarios } from "./bridge.mjs";
import { streamScenarios } from "./streams.mjs";

/**
 * The scenarios, each run for `seconds`; `smoke` also shrinks what is counted rather than
 * timed (the probe's idle connections, redis-benchmark's request count).
 * `proto`: the protocol a system serves for it; `only`: the systems that run it (all by default).
 * `run(port)` returns the figures, or a Promise of them. The stream handlers' scenarios,
 * then the bridge's, come last.
 */
export function scenarios({ build, seconds, smoke }) {
  const loadgen = (mode, port, ...rest) => {
    const out = execFileSync(join(build, "loadgen"), [mode, "127.0.0.1", port, ...rest, seconds].map(String), {
      encoding: "utf8",
    });
    const r = JSON.parse(out);
    return { rate: mode === "stream" ? r.mb_per_sec : r.per_sec, p50: r.p50_us, p99: r.p99_us, errors: r.errors };
  };
  const wrk = (port, load = ["-c100"]) => wrkRun(port, load, seconds);
  const redis = (port) => redisBenchmark(port, smoke ? 2000 : Math.round(60000 * seconds));
  const both = ["reactor, 1 context", "node net (same protocol)"];
  return [
    { name: "ping-pong, 1 conn, 64 B", proto: "echo", unit: "msg/s", run: (port) => loadgen("echo", port, 1, 1, 64) },
    { name: "lock-step echo, 50 conns x 1 in flight, 64 B", proto: "echo", unit: "msg/s", run: (port) => loadgen("echo", port, 50, 1, 64) },
    { name: "pipelined echo, 100 conns x 16 in flight, 64 B", proto: "echo", unit: "msg/s", run: (port) => loadgen("echo", port, 100, 16, 64) },
    { name: "stream, 4 conns, 16 KiB writes", proto: "echo", unit: "MB/s", run: (port) => loadgen("stream", port, 4, 0, 16384) },
    { name: "HTTP/1.1 keep-alive, wrk, 100 conns", proto: "http", unit: "req/s", run: (port) => wrk(port) },
    {
      // connection churn: an accept, a handoff and a close per request
      name: "HTTP/1.1 Connection: close, wrk, 50 conns",
      proto: "http",
      unit: "req/s",
      only: both,
      run: (port) => wrk(port, ["-c50", "-H", "Connection: close"]),
    },
    { name: "RESP GET, redis-benchmark -c 50", proto: "resp", unit: "req/s", run: (port) => redis(port) },
    {
      name: "probe ping-pong among 2,000 idle + 200 trickling conns",
      proto: "echo",
      unit: "msg/s",
      only: both,
      run: (port) => loadgen("probe", port, smoke ? 20 : 2000, smoke ? 2 : 200),
    },
    ...streamScenarios({ wrk, loadgen }),
    ...bridgeScenarios({ loadgen, seconds, smoke }),
  ];
}

function redisBenchmark(port, n) {
  const out = execFileSync(
    "redis-benchmark",
    ["-h", "127.0.0.1", "-p", String(port), "-c", "50", "-n", String(n), "-t", "get", "--csv", "-q"],
    { encoding: "utf8" },
  );
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const row = out.split("\n").find((l) => l.startsWith('"GET"'));
  if (!row) return { rate: 0, p50: 0, p99: 0, errors: 1 };
  const f = row.split(",").map((x) => Number(x.replace(/"/g, "")));
  return { rate: f[1], p50: f[4] * 1000, p99: f[6] * 1000, errors: 0 };
}

function wrkRun(port, load, seconds) {
  const out = execFileSync(
    "wrk",
    ["-t2", ...load, `-d${Math.max(1, Math.round(seconds))}s`, "--latency", `http://127.0.0.1:${port}/`],
    { encoding: "utf8" },
  );
  const us = (s) => {
    const m = /([\d.]+)(us|ms|s)/.exec(s);
    return m ? Number(m[1]) * { us: 1, ms: 1000, s: 1e6 }[m[2]] : NaN;
  };
  const errors = /Non-2xx|Socket errors/.test(out) ? 1 : 0;
  return {
    rate: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    p50: us(/ 50%\s+(\S+)/.exec(out)[1]),
    p99: us(/ 99%\s+(\S+)/.exec(out)[1]),
    errors,
  };
}
