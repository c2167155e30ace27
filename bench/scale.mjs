// make bench-scale: N idle echo connections through the reactor, plain Node's `net` and
// Erlang's gen_tcp (a process per connection), at several N up to what the fd limit
// allows; per system: connections per second to reach N, RSS per connection, a probe's
// ping-pong p50/p99 alone and among the N, CPU while idle, and the time to close them
// all. Writes its table into docs/performance.md between the "scale results" markers
// (not with --smoke or --systems), stamped as make bench stamps its own.
//
//   node bench/scale.mjs [--smoke] [--steps 1000,5000,max] [--runs N] [--systems RE]
//
// Every figure is the median of --runs runs (3), the systems interleaved run by run
// (odd runs in the reverse order), each run on a freshly started server.
import { readFileSync, writeFileSync } from "fs";
import { dirname, join } from "path";
import { fileURLToPath } from "url";
import { machine } from "./lib/report.mjs";
import { clientCount, fdLimit, maxConnections, measureScale, scaleSystems, scaleTable, scaleTargets, summarizeScale } from "./lib/scale.mjs";
import { describe, stamp } from "./lib/trees.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const build = join(root, "bench", "build");
const args = parseArgs(process.argv.slice(2));
const { smoke } = args;
const limit = fdLimit();
const max = maxConnections(limit);
const steps = (args["--steps"] ?? (smoke ? "200" : "1000,5000,max"))
  .split(",")
  .map((s) => (s.trim() === "max" ? max : Number(s)))
  .filter((n, i, all) => n > 0 && all.indexOf(n) === i);
if (!steps.length || steps.some((n) => !Number.isInteger(n) || n > max)) {
  console.error(`bench-scale: --steps must be whole numbers up to ${max} (the fd limit here is ${limit}) or "max"`);
  process.exit(2);
}
const runs = Number(args["--runs"] ?? (smoke ? 1 : 3));
// settle: after a burst of accepts the BEAM's schedulers work on for a few seconds
// (docs/performance.md): the idle window sees part of it
const t = smoke ? { probe: 0.3, settle: 0.3, idle: 0.5 } : { probe: 0.7, settle: 2, idle: 2 };
const systems = scaleSystems(build, root).filter((s) => s.baseline || new RegExp(args["--systems"] ?? "", "i").test(s.name));

const began = Date.now();
const results = [];
for (const n of steps) {
  const samples = new Map(systems.map((s) => [s, []]));
  for (let run = 0; run < runs; run++) {
    for (const sys of run % 2 ? [...systems].reverse() : systems) {
      let r;
      try {
        r = await measureScale(build, sys, n, t);
      } catch (e) {
        console.error(`bench-scale: ${sys.name} at N = ${n} failed: ${e.message}`);
        r = { n, held: 0, rate: 0, rss: sys.roles.map(() => 0), heap: 0, none: { p50: 0, p99: 0 }, among: { p50: 0, p99: 0 }, idleCpuMs: 0, closeMs: 0, peersClosedMs: 0, errors: 1 };
      }
      samples.get(sys).push(r);
      process.stderr.write(
        `  N=${n} | ${sys.name} | run ${run + 1}: ${Math.round(r.rate)} conn/s, ` +
          `${(r.rss.reduce((a, b) => a + b, 0) / 1024).toFixed(2)} KB/conn, idle CPU ${(r.idleCpu ?? []).map((x) => x.toFixed(2)).join(" + ")} ms/s, ` +
          `close ${Math.round(r.closeMs)} ms${r.errors ? `, ${r.errors} errors` : ""}\n`,
      );
    }
  }
  for (const sys of systems) results.push({ system: sys, ...summarizeScale(samples.get(sys)) });
}
const took = Math.round((Date.now() - began) / 1000);
const table = scaleTable(results);
const targets = scaleTargets(results);
console.log(`${table}\n\n${targets}`);

if (args["--systems"]) console.error("bench-scale: a partial run (--systems): docs/performance.md not written");
else if (!smoke) {
  const file = join(root, "docs", "performance.md");
  const doc = readFileSync(file, "utf8");
  const [open, close] = ["<!-- scale results -->", "<!-- /scale results -->"];
  const a = doc.indexOf(open);
  const b = doc.indexOf(close);
  if (a < 0 || b < a) {
    console.error(`bench-scale: docs/performance.md has no ${open} ... ${close}: not written`);
  } else {
    const day = new Date().toISOString().slice(0, 10);
    const clients = steps.map((n) => `${clientCount(n)}`).join("/");
    const stampLine =
      `Run: \`make bench-scale\` at commit ${describe(stamp(root))}, ${day}: N = ${steps.map((n) => n.toLocaleString("en-US")).join(", ")} ` +
      `(fd limit ${limit}; ${clients} client processes), median of ${runs} run${runs === 1 ? "" : "s"}, ${took} s in all; ${machine()}.`;
    writeFileSync(file, `${doc.slice(0, a + open.length)}\n${stampLine}\n\n${table}\n\n${targets}\n${doc.slice(b)}`);
  }
}
if (results.some((r) => r.errors || !(r.rate > 0))) {
  console.error("bench-scale: a system failed or reported errors");
  process.exit(1);
}

function parseArgs(argv) {
  const valued = ["--steps", "--runs", "--systems"];
  const out = { smoke: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--smoke") out.smoke = true;
    else if (valued.includes(argv[i]) && i + 1 < argv.length) out[argv[i]] = argv[++i];
    else {
      console.error(`bench-scale: unknown argument ${argv[i]}\nusage: node bench/scale.mjs [--smoke] [--steps 1000,5000,max] [--runs N] [--systems RE]`);
      process.exit(2);
    }
  }
  return out;
}
