// make bench-scale's measurements: N idle echo connections held open through each system
// (the reactor, plain Node's `net`, Erlang's gen_tcp with a process per connection), and
// what they cost. The method is in docs/performance.md ("Many connections").
import { spawn } from "child_process";
import { readFileSync, readdirSync } from "fs";
import { join } from "path";
import { median, ratio } from "./stats.mjs";
import { erl, start, stop } from "./systems.mjs";

export const REACTOR = "reactor, 1 context";
export const NODE = "node net (same protocol)";
export const GEN_TCP = "erlang gen_tcp";

/**
 * The systems, each serving examples/echo.ts's protocol (the peers: the same logic),
 * with a full GC reachable where Node runs (the `mem` command, bench_servers.erl).
 * `roles`: what each of its pids is, in order.
 */
export function scaleSystems(build, root) {
  const ebin = [join(root, "_build/default/lib/reactor/ebin"), build];
  const echo = join(root, "examples", "echo.ts");
  return [
    {
      name: REACTOR,
      roles: ["BEAM", "Node"],
      start: (port) => erl(ebin, `bench_servers:reactor(${port}, "${echo}", 1, #{node_args => ["--expose-gc"]})`),
    },
    { name: NODE, roles: ["Node"], baseline: true, start: (port) => ["node", ["--expose-gc", join(build, "node_server.js"), "net", port, "echo"]] },
    { name: GEN_TCP, roles: ["BEAM"], start: (port) => erl([build], `bench_servers:gen_tcp(${port}, echo)`) },
  ];
}

/** The most open files a process started from here may hold (the hard limit: Node raises its soft one to it, and its children inherit that). */
export function fdLimit() {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"));
  const n = (s) => (s === "unlimited" ? Infinity : Number(s));
  return m ? Math.max(n(m[1]), n(m[2])) : 1024;
}

/**
 * The largest N a server holding one fd per connection can take under `limit`, in
 * whole thousands: each server process keeps ~100 fds of its own (measured: the BEAM
 * with a listener ~40, its Node ~30), and the rest is left as margin.
 */
export const maxConnections = (limit) => Math.max(1000, Math.floor((limit - 300) / 1000) * 1000);

/** Resident memory of `pid`, in bytes (0 once it is gone). */
export function rss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time `pid` has used so far, every thread's, in ms to the nanosecond (schedstat:
 * /proc/PID/stat's ticks of 10 ms charge a whole tick to whatever runs when one
 * ends, too coarse for an idle process); 0 once it is gone.
 */
export function cpuMs(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).reduce((a, tid) => {
      try {
        return a + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
      } catch {
        return a; // a thread that ended meanwhile
      }
    }, 0);
  } catch {
    return 0;
  }
}

/** Lines a child prints, one waiter at a time: `next(re, ms)` resolves with the match of the next line matching `re`. */
function lines(child, what) {
  let buf = "";
  const seen = [];
  let waiter;
  child.stdout.on("data", (d) => {
    buf += d;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      seen.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    waiter?.();
  });
  return (re, ms) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = undefined;
        reject(new Error(`${what}: no ${re} within ${ms} ms`));
      }, ms);
      waiter = () => {
        for (let i = 0; i < seen.length; i++) {
          const m = re.exec(seen[i]);
          if (m) {
            seen.splice(0, i + 1);
            clearTimeout(timer);
            waiter = undefined;
            resolve(m);
            return;
          }
        }
      };
      waiter();
    });
}

/** A started system that takes commands on stdin (bench_servers.erl, node_server.ts). */
async function serve(sys) {
  const s = await start(sys, "echo");
  const next = lines(s.child, sys.name);
  const ask = (cmd, re, ms = 60000) => {
    s.child.stdin.write(cmd + "\n");
    return next(re, ms);
  };
  return { ...s, ask };
}

/** The probe: 64-byte ping-pong on one more connection, for `seconds` (bench/build/loadgen). */
function probe(build, port, seconds) {
  return new Promise((resolve, reject) => {
    const c = spawn(join(build, "loadgen"), ["echo", "127.0.0.1", port, 1, 1, 64, seconds].map(String), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.on("exit", (code) => {
      try {
        const r = JSON.parse(out);
        resolve({ p50: r.p50_us, p99: r.p99_us, errors: r.errors + (code ? 1 : 0) });
      } catch {
        reject(new Error(`loadgen probe exited with ${code}: ${out}`));
      }
    });
  });
}

/**
 * N connections from `procs` client processes (bench/build/scale_client), each from its
 * own source address 127.0.0.(10+i), with WINDOW_TOTAL connects outstanding in all.
 */
const WINDOW_TOTAL = 256;
export const clientCount = (n) => Math.min(8, Math.max(2, Math.ceil(n / 5000)));

async function openClients(build, port, n) {
  const procs = clientCount(n);
  const window = Math.ceil(WINDOW_TOTAL / procs);
  const clients = Array.from({ length: procs }, (_, i) => {
    const share = Math.floor(n / procs) + (i < n % procs ? 1 : 0);
    const child = spawn(join(build, "scale_client"), ["127.0.0.1", port, `127.0.0.${10 + i}`, share, window].map(String), {
      stdio: ["pipe", "pipe", "inherit"],
    });
    return { child, share, next: lines(child, "scale_client") };
  });
  const connected = await Promise.all(clients.map((c) => c.next(/CONNECTED n=(\d+) ms=([\d.]+) errors=(\d+)( stalled=1)?/, 120000)));
  const held = connected.reduce((a, m) => a + Number(m[1]), 0);
  const ms = Math.max(...connected.map((m) => Number(m[2])));
  const errors = connected.reduce((a, m) => a + Number(m[3]) + (m[4] ? 1 : 0), 0);
  return { clients, held, ms, errors };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const heapOf = (m) => Number(m[1]);

/**
 * One run of `sys` with `n` connections: { rate (conn/s), acceptCpu (CPU µs per
 * connection while they were opened, per pid), rss (bytes per connection, per pid),
 * heap (Node heap bytes per connection), none and among ({p50, p99} µs), idleCpu
 * (CPU ms per second idle, per pid) and idleCpuMs (their sum), closeMs (the
 * server's close), peersClosedMs (the last peer seeing its end), held, errors }.
 * `t`: { probe, settle, idle } seconds.
 */
export async function measureScale(build, sys, n, t) {
  const s = await serve(sys);
  let clients = [];
  try {
    await probe(build, s.port, 0.3); // warm-up (Node's JIT, the BEAM's first turns): dropped
    const none = await probe(build, s.port, t.probe);
    const heap0 = heapOf(await s.ask("mem", /MEM heap=(\d+)/));
    const rss0 = s.pids.map(rss);
    const cpuOpen = s.pids.map(cpuMs);
    const opened = await openClients(build, s.port, n);
    const acceptCpu = s.pids.map((p, i) => ((cpuMs(p) - cpuOpen[i]) * 1000) / Math.max(1, opened.held));
    clients = opened.clients;
    await sleep(t.settle * 1000);
    // idle first: the mem command's full GC leaves V8 and the BEAM work for a while after
    const cpu0 = s.pids.map(cpuMs);
    await sleep(t.idle * 1000);
    const idleCpu = s.pids.map((p, i) => (cpuMs(p) - cpu0[i]) / t.idle);
    const heap1 = heapOf(await s.ask("mem", /MEM heap=(\d+)/));
    const rss1 = s.pids.map(rss);
    const among = await probe(build, s.port, t.probe);
    const ends = clients.map((c) => {
      c.child.stdin.write("eof 60\n");
      return c.next(/CLOSED n=(\d+) of=(\d+) ms=([\d.]+)/, 70000);
    });
    const closeMs = Number((await s.ask("close", /CLOSED us=(\d+)/, 120000))[1]) / 1000;
    const ended = await Promise.all(ends);
    const unended = ended.reduce((a, m) => a + Number(m[2]) - Number(m[1]), 0);
    const held = Math.max(1, opened.held);
    return {
      n,
      held: opened.held,
      rate: opened.ms > 0 ? (held / opened.ms) * 1000 : 0,
      acceptCpu,
      rss: rss1.map((b, i) => (b - rss0[i]) / held),
      heap: (heap1 - heap0) / held,
      none,
      among,
      idleCpu,
      idleCpuMs: idleCpu.reduce((a, b) => a + b, 0),
      closeMs,
      peersClosedMs: Math.max(...ended.map((m) => Number(m[3]))),
      errors: opened.errors + (opened.held < n ? 1 : 0) + unended + none.errors + among.errors,
    };
  } finally {
    for (const c of clients) c.child.stdin.end();
    await Promise.all(clients.map((c) => (c.child.exitCode === null ? new Promise((r) => c.child.on("exit", r)) : null)));
    await stop(s);
  }
}

/** The runs of one system at one N, each figure their median. */
export function summarizeScale(runs) {
  const of = (f) => median(runs.map(f));
  const pids = runs[0]?.rss.length ?? 0;
  return {
    n: runs[0]?.n,
    held: of((r) => r.held),
    rate: of((r) => r.rate),
    acceptCpu: Array.from({ length: pids }, (_, i) => of((r) => r.acceptCpu?.[i] ?? 0)),
    rss: Array.from({ length: pids }, (_, i) => of((r) => r.rss[i])),
    rssTotal: of((r) => r.rss.reduce((a, b) => a + b, 0)),
    heap: of((r) => r.heap),
    none: { p50: of((r) => r.none.p50), p99: of((r) => r.none.p99) },
    among: { p50: of((r) => r.among.p50), p99: of((r) => r.among.p99) },
    idleCpuMs: of((r) => r.idleCpuMs),
    closeMs: of((r) => r.closeMs),
    peersClosedMs: of((r) => r.peersClosedMs),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    runs: runs.length,
  };
}

const kb = (b) => (b / 1024).toFixed(2);
const rolesRss = (sys, s, role) => {
  const i = sys.roles.indexOf(role);
  return i >= 0 ? kb(s.rss[i]) : "-";
};

/**
 * The table: one row per N and system, ratios to plain Node at the same N; CPU per
 * connection is each process's, in the order of the system's `roles` (BEAM + Node).
 * `results`: [{ system, n, ...summarizeScale(runs) }].
 */
export function scaleTable(results) {
  const lines = [
    "| N | system | conn/s to reach N | × node net | CPU µs/conn to reach N | RSS/conn KB: BEAM | Node | together | × node net | Node heap/conn KB | probe p50 / p99 µs, alone | among N | p99 among / alone | idle CPU ms/s | close ms (server / last peer) |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const n of [...new Set(results.map((r) => r.n))]) {
    const rows = results.filter((r) => r.n === n);
    const base = rows.find((r) => r.system.baseline);
    for (const r of rows) {
      const heap = r.system.roles.includes("Node") ? kb(r.heap) : "-";
      const short = r.held < r.n ? ` (held ${r.held})` : "";
      lines.push(
        `| ${n.toLocaleString("en-US")}${short} | ${r.system.name} | ${Math.round(r.rate)} | ${ratio(r.rate, base?.rate)} | ` +
          `${r.acceptCpu.map(Math.round).join(" + ")} | ` +
          `${rolesRss(r.system, r, "BEAM")} | ${rolesRss(r.system, r, "Node")} | ${kb(r.rssTotal)} | ${ratio(r.rssTotal, base?.rssTotal)} | ${heap} | ` +
          `${Math.round(r.none.p50)} / ${Math.round(r.none.p99)} | ${Math.round(r.among.p50)} / ${Math.round(r.among.p99)} | ` +
          `${ratio(r.among.p99, r.none.p99)} | ${r.idleCpuMs.toFixed(2)} | ${Math.round(r.closeMs)} / ${Math.round(r.peersClosedMs)} |`,
      );
    }
  }
  return lines.join("\n");
}

/**
 * CPU an idle server may use, ms per second: the issue asks for 0, and a BEAM is not
 * quite idle yet 2–4 s after a burst of accepts (docs/performance.md: its schedulers
 * work on for a few seconds, ~1 ms/s, then stop).
 */
export const IDLE_CPU_MS = 1;

/** Issue 21's targets for the reactor at the largest N measured, each met or not. */
export function scaleTargets(results) {
  const n = Math.max(...results.map((r) => r.n));
  const at = (name) => results.find((r) => r.n === n && r.system.name === name);
  const re = at(REACTOR);
  const base = at(NODE);
  if (!re || !base) return "";
  const t = (ok, text) => `- ${text}: ${ok ? "met" : "**not met**"}`;
  return [
    `Targets (issue 21), the reactor at N = ${n.toLocaleString("en-US")}:`,
    t(re.rssTotal <= base.rssTotal, `memory per connection, BEAM + Node, ≤ plain Node's (${kb(re.rssTotal)} vs ${kb(base.rssTotal)} KB)`),
    t(re.rate >= base.rate, `accept-and-handoff rate ≥ plain Node's accept rate (${Math.round(re.rate)} vs ${Math.round(base.rate)} conn/s)`),
    t(re.among.p99 <= 2 * re.none.p99, `probe p99 among N ≤ 2× alone (${Math.round(re.among.p99)} vs ${Math.round(re.none.p99)} µs)`),
    t(re.idleCpuMs < IDLE_CPU_MS, `CPU while idle ≈ 0, under ${IDLE_CPU_MS} ms per second (${re.idleCpuMs.toFixed(2)} ms/s)`),
  ].join("\n");
}
