// make bench: every system on the same work, in one run, each figure also as a ratio to
// plain Node (the bridge's scenarios: to the peer each names, bench/lib/bridge.mjs);
// writes docs/performance.md (not with --smoke, --systems or --scenarios), stamped with
// the commit it measured. With --compare, this tree's reactor (B) against
// another build's (A) instead, run by run, written to _build/bench/compare-<date>.md.
//
//   node bench/run.mjs [--smoke] [--seconds N] [--runs N] [--systems RE] [--scenarios RE]
//                      [--compare GIT-REF | BUILT-DIR]
//
// Every figure is the median of --runs runs (of GOAL_RUNS at the least for a scenario with
// a target, unless --runs is given). Runs are interleaved: every system runs once
// per run, odd runs in the reverse order (A B N, N B A, ...), so a drift in the machine's
// load weighs on every system alike.
import { mkdirSync, readFileSync, writeFileSync } from "fs";
import { dirname, join, relative } from "path";
import { fileURLToPath } from "url";
import { scenarios as allScenarios } from "./lib/loads.mjs";
import { comparison, machine, perRun, sideBySide } from "./lib/report.mjs";
import { GOAL_RUNS, summarize, VERDICT_RUNS } from "./lib/stats.mjs";
import { peerSystems, reactorSystems, start, stop, cpuSeconds } from "./lib/systems.mjs";
import { compareTree, describe, stamp } from "./lib/trees.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const build = join(root, "bench", "build");
const args = parseArgs(process.argv.slice(2));
const { smoke } = args;
const compare = args["--compare"];
const seconds = Number(args["--seconds"] ?? (smoke ? 0.5 : 3));
// a comparison needs runs enough for a spread; --smoke keeps two, to show one
const runs = Number(args["--runs"] ?? (compare ? (smoke ? 2 : 5) : smoke ? 1 : 3));
const here = { root, label: "this tree", stamp: stamp(root) };
const peers = peerSystems(build);
const baseline = peers.find((s) => s.baseline);
let systems;
let other;
if (compare) {
  // B = this tree, A = the other; plain Node stays as both builds' common denominator
  try {
    other = compareTree(compare, root);
  } catch (e) {
    console.error(`bench: ${e.message}`);
    process.exit(2);
  }
  const pick = new RegExp(args["--systems"] ?? "^reactor, 1 context$", "i");
  const [as, bs] = [reactorSystems(other, build, root), reactorSystems(here, build, root)];
  systems = as.flatMap((a, i) => (pick.test(a.name) ? [{ ...a, build: "A" }, { ...bs[i], build: "B" }] : []));
  if (!systems.length) {
    console.error(`bench: --systems ${args["--systems"]} matches no reactor system`);
    process.exit(2);
  }
  systems.push(baseline);
} else {
  const pick = new RegExp(args["--systems"] ?? "", "i");
  systems = [...reactorSystems(here, build, root), ...peers].filter((s) => !(smoke && s.full) && (s.baseline || pick.test(s.name)));
}
const began = Date.now(); // after --compare's build: the runs alone
const scenarios = allScenarios({ build, seconds, smoke }).filter((sc) => new RegExp(args["--scenarios"] ?? "", "i").test(sc.name));

// One run of one system on one scenario: its figures and its processes' CPU seconds.
async function measure(sc, sys) {
  const s = await start(sys, sc.proto);
  try {
    const cpu0 = s.pids.map(cpuSeconds);
    const r = await sc.run(s.port);
    return { ...r, cpu: s.pids.map((p, i) => cpuSeconds(p) - cpu0[i]) };
  } catch (e) {
    console.error(`bench: ${sc.name} against ${sys.name} failed: ${e.message}\n${e.stdout ?? ""}`);
    return { rate: 0, p50: 0, p99: 0, errors: 1, cpu: [] };
  } finally {
    await stop(s);
  }
}

const results = [];
// A scenario with a target gets GOAL_RUNS runs in a full run (not when --runs says how many)
const goalRuns = !smoke && !compare && args["--runs"] === undefined ? Math.max(runs, GOAL_RUNS) : runs;
const runsOf = (sc) => (sc.goal ? goalRuns : runs);

for (const sc of scenarios) {
  const those = systems.filter((sys) => sys.protos.includes(sc.proto) && (!sc.only || sc.only.includes(sys.name)));
  const samples = new Map(those.map((sys) => [sys, []]));
  for (let run = 0; run < runsOf(sc); run++) {
    for (const sys of run % 2 ? [...those].reverse() : those) {
      const r = await measure(sc, sys);
      samples.get(sys).push(r);
      const name = sys.build ? `${sys.name} [${sys.build}]` : sys.name;
      process.stderr.write(`  ${sc.name} | ${name} | run ${run + 1}: ${r.rate.toFixed(1)}\n`);
    }
  }
  for (const sys of those) results.push({ scenario: sc, system: sys, samples: samples.get(sys), ...summarize(samples.get(sys)) });
}
const failed = results.some((r) => r.errors || !(r.rate > 0));
const took = Math.round((Date.now() - began) / 1000);
const day = new Date().toISOString().slice(0, 10);

if (compare) {
  const out = join(root, "_build", "bench", `compare-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.md`);
  const head =
    `A: ${other.label} = ${describe(other.stamp)}, at ${relative(root, other.root) || "."}\n` +
    `B: this tree = ${describe(here.stamp)}\n` +
    `${day}: ${seconds} s per run, ${runs} runs per system interleaved (A B N, N B A, ...), ${took} s in all; ${machine()}.\n` +
    `B/A is the ratio of the medians; "per-run B/A" the smallest and largest ratio of one run's B to the same run's A. ` +
    `Within noise: the per-run ratios fall on both sides of 1; faster or slower: all of them on one side, in ${VERDICT_RUNS} runs or more.`;
  const table = comparison(scenarios, results);
  console.log(`${head}\n\n${table}`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `# make bench --compare ${other.label}\n\n${head}\n\n${table}\n\nEvery run's rate, in the order measured:\n\n${perRun(scenarios, results)}\n`);
  console.log(`\nbench: written to ${relative(root, out)}`);
} else {
  const table = sideBySide(scenarios, results);
  console.log(table);
  // the page holds whole runs only: a filtered one would replace it with part of a table
  if (args["--systems"] || args["--scenarios"]) console.error("bench: a partial run (--systems, --scenarios): docs/performance.md not written");
  else if (!smoke) {
    const doc = readFileSync(join(root, "docs", "performance.md"), "utf8").split("<!-- results -->")[0];
    writeFileSync(
      join(root, "docs", "performance.md"),
      doc +
        "<!-- results -->\n" +
        `Run: \`make bench\` at commit ${describe(here.stamp)}, ${day}: ${seconds} s per run, median of ${runs} run${runs === 1 ? "" : "s"} ` +
        `(of ${goalRuns} for a scenario with a target), ` +
        `${took} s in all; ${machine()}.\n\n` +
        table +
        "\n",
    );
  }
}
if (failed) {
  console.error("bench: a system failed or reported errors");
  process.exit(1);
}

function parseArgs(argv) {
  const valued = ["--seconds", "--runs", "--systems", "--scenarios", "--compare"];
  const out = { smoke: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--smoke") out.smoke = true;
    else if (valued.includes(argv[i]) && i + 1 < argv.length) out[argv[i]] = argv[++i];
    else {
      console.error(`bench: unknown argument ${argv[i]}\nusage: node bench/run.mjs [--smoke] [--seconds N] [--runs N] [--systems RE] [--scenarios RE] [--compare GIT-REF | BUILT-DIR]`);
      process.exit(2);
    }
  }
  return out;
}
