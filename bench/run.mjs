// make bench: every system on the same work, in one run, each figure also as a
// ratio to plain Node. Writes docs/performance.md (unless --smoke).
//
//   node bench/run.mjs [--smoke] [--seconds N] [--runs N]
import { execFileSync, spawn } from "child_process";
import { readFileSync, writeFileSync } from "fs";
import { cpus } from "os";
import { dirname, join } from "path";
import { fileURLToPath } from "url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const build = join(root, "bench", "build");
const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const opt = (name, dflt) => (args.indexOf(name) >= 0 ? Number(args[args.indexOf(name) + 1]) : dflt);
const seconds = opt("--seconds", smoke ? 0.5 : 3);
// every figure is the median of this many runs, systems interleaved run by run
const runs = opt("--runs", smoke ? 1 : 3);
const ebin = [join(root, "_build/default/lib/reactor/ebin"), build];
const example = (f) => join(root, "examples", f);

const erl = (expr) => ["erl", ["-noshell", "+sbwt", "none", ...ebin.flatMap((d) => ["-pa", d]), "-eval", expr]];
// `protos`: the protocols a system can serve; `baseline`: plain Node on the same protocol logic
const systems = [
  { name: "reactor, 1 context", protos: ["echo", "http", "resp"], start: (port, p) => erl(`bench_servers:reactor(${port}, "${example(p + ".ts")}", 1)`) },
  { name: "reactor, pool of 2", protos: ["echo", "http", "resp"], start: (port, p) => erl(`bench_servers:reactor(${port}, "${example(p + ".ts")}", 2)`), full: true },
  { name: "node net (same protocol)", protos: ["echo", "http", "resp"], start: (port, p) => ["node", [join(build, "node_server.js"), "net", port, p]], baseline: true },
  { name: "node http", protos: ["http"], start: (port) => ["node", [join(build, "node_server.js"), "http", port]], second: true },
  { name: "erlang gen_tcp", protos: ["echo", "http"], start: (port, p) => erl(`bench_servers:gen_tcp(${port}, ${p})`), full: true },
  { name: "c epoll", protos: ["echo", "http"], start: (port, p) => [join(build, "c_server"), [p, port]], full: true },
];

const scenarios = [
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
    only: ["reactor, 1 context", "node net (same protocol)"],
    run: (port) => wrk(port, ["-c50", "-H", "Connection: close"]),
  },
  { name: "RESP GET, redis-benchmark -c 50", proto: "resp", unit: "req/s", run: (port) => redisBenchmark(port) },
  {
    name: "probe ping-pong among 2,000 idle + 200 trickling conns",
    proto: "echo",
    unit: "msg/s",
    only: ["reactor, 1 context", "node net (same protocol)"],
    run: (port) => loadgen("probe", port, smoke ? 20 : 2000, smoke ? 2 : 200),
  },
];

function loadgen(mode, port, ...rest) {
  const argv = mode === "probe" ? [mode, "127.0.0.1", port, ...rest, seconds] : [mode, "127.0.0.1", port, ...rest, seconds];
  const out = execFileSync(join(build, "loadgen"), argv.map(String), { encoding: "utf8" });
  const r = JSON.parse(out);
  return { rate: mode === "stream" ? r.mb_per_sec : r.per_sec, p50: r.p50_us, p99: r.p99_us, errors: r.errors };
}

function redisBenchmark(port) {
  const n = smoke ? 2000 : Math.round(60000 * seconds);
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

function wrk(port, load = ["-c100"]) {
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

function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return 0;
  }
}

async function start(system, proto) {
  // port 0: each server picks a free port and says which ("READY port=N")
  const [cmd, argv] = system.start(0, proto);
  const child = spawn(cmd, argv.map(String), { stdio: ["pipe", "pipe", "inherit"] });
  const { port, pids } = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`${system.name} did not start`)), 30000);
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

async function stop(s) {
  const gone = new Promise((r) => s.child.on("exit", r));
  s.child.kill("SIGKILL");
  await gone;
  await new Promise((r) => setTimeout(r, 300)); // its Node processes see stdin close and exit
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : 0;
};

const results = [];
for (const sc of scenarios) {
  const here = systems.filter((sys) => sys.protos.includes(sc.proto) && !(smoke && sys.full) && (!sc.only || sc.only.includes(sys.name)));
  const samples = new Map(here.map((sys) => [sys, []]));
  for (let run = 0; run < runs; run++) {
    for (const sys of here) {
      const s = await start(sys, sc.proto);
      let r, cpu;
      try {
        const cpu0 = s.pids.map(cpuSeconds);
        r = sc.run(s.port);
        cpu = s.pids.map((p, i) => cpuSeconds(p) - cpu0[i]);
      } catch (e) {
        console.error(`bench: ${sc.name} against ${sys.name} failed: ${e.message}\n${e.stdout ?? ""}`);
        r = { rate: 0, p50: 0, p99: 0, errors: 1 };
        cpu = [];
      } finally {
        await stop(s);
      }
      samples.get(sys).push({ ...r, cpu });
      process.stderr.write(`  ${sc.name} | ${sys.name} | run ${run + 1}: ${r.rate.toFixed(1)}\n`);
    }
  }
  for (const [sys, xs] of samples) {
    results.push({
      scenario: sc,
      system: sys,
      rate: median(xs.map((x) => x.rate)),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
      errors: xs.reduce((n, x) => n + x.errors, 0),
      cpu: xs[0].cpu.map((_, i) => median(xs.map((x) => x.cpu[i] ?? 0))),
    });
  }
}

const ratio = (a, b) => (b ? (a / b).toFixed(2) : "-");
const lines = [
  "| scenario | system | rate | × node net | p50 µs | p50 × node net | p99 µs | p99 × node net | × node http | CPU s (server processes) |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
];
let failed = false;
for (const sc of scenarios) {
  const rows = results.filter((r) => r.scenario === sc);
  const base = rows.find((r) => r.system.baseline);
  const second = rows.find((r) => r.system.second);
  for (const r of rows) {
    if (r.errors || !(r.rate > 0)) failed = true;
    lines.push(
      `| ${sc.name} | ${r.system.name} | ${r.rate.toFixed(sc.unit === "MB/s" ? 1 : 0)} ${sc.unit} | ${ratio(r.rate, base?.rate)} | ` +
        `${Math.round(r.p50)} | ${ratio(r.p50, base?.p50)} | ${Math.round(r.p99)} | ${ratio(r.p99, base?.p99)} | ` +
        `${second ? ratio(r.rate, second.rate) : "-"} | ${r.cpu.map((c) => c.toFixed(2)).join(" + ")} |`,
    );
  }
}
const table = lines.join("\n");
console.log(table);

if (!smoke) {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const erts = execFileSync("erl", ["-noshell", "-eval", 'io:format("~s", [erlang:system_info(otp_release)]), halt().'], {
    encoding: "utf8",
  });
  const doc = readFileSync(join(root, "docs", "performance.md"), "utf8").split("<!-- results -->")[0];
  writeFileSync(
    join(root, "docs", "performance.md"),
    doc +
      "<!-- results -->\n" +
      `Run: \`make bench\` (${seconds} s per run, median of ${runs} runs), ${new Date().toISOString().slice(0, 10)}, ` +
      `${cpus().length} × ${cpu}, Node ${process.version}, OTP ${erts}.\n\n` +
      table +
      "\n",
  );
}
if (failed) {
  console.error("bench: a system failed or reported errors");
  process.exit(1);
}
