// make bench: every system on the same work, in one run, each figure also as a
// ratio to plain Node. Writes docs/performance.md (unless --smoke).
//
//   node bench/run.mjs [--smoke] [--seconds N]
import { execFileSync, spawn } from "child_process";
import { readFileSync, writeFileSync } from "fs";
import { cpus } from "os";
import { dirname, join } from "path";
import { fileURLToPath } from "url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const build = join(root, "bench", "build");
const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const secondsAt = args.indexOf("--seconds");
const seconds = secondsAt >= 0 ? Number(args[secondsAt + 1]) : smoke ? 0.5 : 5;
const ebin = [join(root, "_build/default/lib/reactor/ebin"), build];
const example = (f) => join(root, "examples", f);

const erl = (expr) => ["erl", ["-noshell", "+sbwt", "none", ...ebin.flatMap((d) => ["-pa", d]), "-eval", expr]];
const systems = [
  { name: "reactor, 1 context", start: (port, p) => erl(`bench_servers:reactor(${port}, "${example(p + ".ts")}", 1)`) },
  { name: "reactor, pool of 2", start: (port, p) => erl(`bench_servers:reactor(${port}, "${example(p + ".ts")}", 2)`), full: true },
  { name: "node net (same protocol)", start: (port, p) => ["node", [join(build, "node_server.js"), "net", port, p]], baseline: ["echo", "stream"] },
  { name: "node http", start: (port) => ["node", [join(build, "node_server.js"), "http", port]], only: "http", baseline: ["http"] },
  { name: "erlang gen_tcp", start: (port, p) => erl(`bench_servers:gen_tcp(${port}, ${p})`), full: true },
  { name: "c epoll", start: (port, p) => [join(build, "c_server"), [p, port]], full: true },
];

const scenarios = [
  { name: "ping-pong, 1 conn, 64 B", proto: "echo", kind: "echo", run: (port) => loadgen("echo", port, 1, 1, 64) },
  { name: "echo, 100 conns x 16 in flight, 64 B", proto: "echo", kind: "echo", run: (port) => loadgen("echo", port, 100, 16, 64) },
  { name: "stream, 4 conns, 16 KiB writes", proto: "echo", kind: "stream", run: (port) => loadgen("stream", port, 4, 0, 16384) },
  { name: "HTTP/1.1 keep-alive, wrk, 100 conns", proto: "http", kind: "http", run: (port) => wrk(port) },
];

function loadgen(mode, port, conns, depth, size) {
  const out = execFileSync(join(build, "loadgen"), [mode, "127.0.0.1", port, conns, depth, size, seconds].map(String), {
    encoding: "utf8",
  });
  const r = JSON.parse(out);
  return { rate: mode === "stream" ? r.mb_per_sec : r.per_sec, p50: r.p50_us, p99: r.p99_us, errors: r.errors };
}

function wrk(port) {
  const out = execFileSync(
    "wrk",
    ["-t2", "-c100", `-d${Math.max(1, Math.round(seconds))}s`, "--latency", `http://127.0.0.1:${port}/`],
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

const results = [];
for (const sc of scenarios) {
  for (const sys of systems) {
    if (sys.only && sys.only !== sc.kind) continue;
    if (smoke && sys.full) continue;
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
    results.push({ scenario: sc, system: sys, ...r, cpu });
    process.stderr.write(`  ${sc.name} | ${sys.name}: ${r.rate.toFixed(1)}\n`);
  }
}

const unit = (sc) => (sc.kind === "stream" ? "MB/s" : sc.kind === "http" ? "req/s" : "msg/s");
const lines = [
  "| scenario | system | rate | × node | p50 µs | p99 µs | p99 × node | CPU s (server processes) |",
  "|---|---|---:|---:|---:|---:|---:|---|",
];
let failed = false;
for (const sc of scenarios) {
  const rows = results.filter((r) => r.scenario === sc);
  const base = rows.find((r) => r.system.baseline?.includes(sc.kind));
  for (const r of rows) {
    if (r.errors || !(r.rate > 0)) failed = true;
    const ratio = base ? (r.rate / base.rate).toFixed(2) : "-";
    const p99r = base && base.p99 ? (r.p99 / base.p99).toFixed(2) : "-";
    lines.push(
      `| ${sc.name} | ${r.system.name} | ${r.rate.toFixed(sc.kind === "stream" ? 1 : 0)} ${unit(sc)} | ${ratio} | ` +
        `${Math.round(r.p50)} | ${Math.round(r.p99)} | ${p99r} | ${r.cpu.map((c) => c.toFixed(2)).join(" + ")} |`,
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
      `Run: \`make bench\` (${seconds} s per figure), ${new Date().toISOString().slice(0, 10)}, ` +
      `${cpus().length} × ${cpu}, Node ${process.version}, OTP ${erts}.\n\n` +
      table +
      "\n",
  );
}
if (failed) {
  console.error("bench: a system failed or reported errors");
  process.exit(1);
}
