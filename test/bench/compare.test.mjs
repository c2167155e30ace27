// make bench's arithmetic and its --compare plumbing, without running a benchmark:
//   node --test test/bench/
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { comparison, perRun, sideBySide } from "../../bench/lib/report.mjs";
import { change, goalVerdict, median, paired, summarize, verdict } from "../../bench/lib/stats.mjs";
import { compareTree, describe, stamp } from "../../bench/lib/trees.mjs";

const run = (rate, p50 = 100) => ({ rate, p50, p99: 2 * p50, errors: 0, cpu: [0.5, 1] });

test("median takes the lower middle of an even count, and 0 of none", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2);
  assert.equal(median([]), 0);
});

test("paired divides run i of B by run i of A and skips runs where either measured nothing", () => {
  const p = paired([run(100), run(0), run(200)], [run(110), run(50), run(180)], "rate");
  assert.deepEqual(p.ratios, [1.1, 0.9]);
  assert.equal(p.n, 2);
  assert.equal(p.min, 0.9);
  assert.equal(p.max, 1.1);
});

test("verdict: within noise when per-run ratios straddle 1, a side only when 5 runs agree", () => {
  assert.equal(verdict({ n: 5, min: 0.95, max: 1.04 }), "within noise");
  assert.equal(verdict({ n: 5, min: 1.01, max: 1.2 }), "B faster");
  assert.equal(verdict({ n: 6, min: 0.8, max: 0.99 }), "B slower");
  assert.equal(verdict({ n: 4, min: 1.1, max: 1.2 }), "none (4 of 5 runs)");
});

test("a target's verdict is the medians' ratio against the goal, with the per-run spread", () => {
  const p = paired([run(100), run(100), run(100)], [run(90), run(104), run(121)], "rate");
  assert.equal(goalVerdict(1.04, p, 1), "met (per run 0.90–1.21, 3 runs)");
  assert.equal(goalVerdict(0.99, p, 1), "not met (per run 0.90–1.21, 3 runs)");
  assert.equal(goalVerdict(2.5, { n: 0 }, 2), "met");
});

test("change is signed and needs both figures", () => {
  assert.equal(change(100, 103), "+3.0%");
  assert.equal(change(100, 90), "-10.0%");
  assert.equal(change(0, 90), "-");
});

test("the comparison table gives both medians, B/A, the per-run spread and ratios to plain Node", () => {
  const sc = { name: "lock-step", unit: "msg/s" };
  const row = (name, build, rates, extra = {}) => {
    const samples = rates.map((r) => run(r));
    return { scenario: sc, system: { name, build, ...extra }, samples, ...summarize(samples) };
  };
  const results = [
    row("reactor, 1 context", "A", [100, 104, 98, 102, 100]),
    row("reactor, 1 context", "B", [110, 112, 105, 108, 111]),
    row("node net (same protocol)", undefined, [200, 200, 200, 200, 200], { baseline: true }),
  ];
  const lines = comparison([sc], results).split("\n");
  assert.equal(lines.length, 3);
  const cells = lines[2].split("|").map((c) => c.trim());
  // | scenario | system | A | B | B/A | per-run B/A | runs | verdict | A × node | B × node | p50 | p50 spread |
  assert.deepEqual(cells.slice(1, 11), [
    "lock-step", "reactor, 1 context", "100 msg/s", "110 msg/s", "1.10 (+10.0%)",
    "1.06–1.11", "5", "B faster", "0.50", "0.55",
  ]);
  assert.match(perRun([sc], results), /\| lock-step \| reactor, 1 context \[B\] \| 110 msg\/s \| 112 msg\/s \|/);
});

test("the bridge's scenarios get a table of their own: ratios to the named peer, the goal met or not", () => {
  const echo = { name: "echo", unit: "msg/s" };
  const call = { name: "call", unit: "calls/s", bridge: true, peer: "json port", goal: 2 };
  const publish = { name: "publish", unit: "msg/s", bridge: true, peer: "node net", goal: 0.8 };
  const row = (sc, rate, system) => ({ scenario: sc, system, samples: [run(rate)], ...summarize([run(rate)]) });
  const [reactor, node, json] = [{ name: "reactor", reactor: true }, { name: "node net", baseline: true }, { name: "json port" }];
  const results = [
    row(echo, 90, reactor), row(echo, 100, node),
    row(call, 300, reactor), row(call, 100, json),
    row(publish, 70, reactor), row(publish, 100, node),
  ];
  const [main, bridge] = sideBySide([echo, call, publish], results).split("\n\n");
  assert.match(main, /\| echo \| reactor \| 90 msg\/s \| 0.90 \|/);
  assert.doesNotMatch(main, /call|publish/);
  const cells = (line) => line.split("|").map((c) => c.trim()).slice(1, 9);
  const lines = bridge.split("\n");
  assert.deepEqual(cells(lines[2]), ["call", "reactor", "300 calls/s", "json port", "3.00", "100", "200", "≥ 2.0× json port: met (per run 3.00–3.00, 1 run)"]);
  assert.deepEqual(cells(lines[3]), ["call", "json port", "100 calls/s", "json port", "1.00", "100", "200", "-"]);
  assert.deepEqual(cells(lines[4]), ["publish", "reactor", "70 msg/s", "node net", "0.70", "100", "200", "≥ 0.8× node net: not met (per run 0.70–0.70, 1 run)"]);
  // a run filtered to the bridge's scenarios has the bridge's table only
  assert.match(sideBySide([call], results.slice(2, 4)), /^\| bridge scenario /);
});

test("the stream handlers' scenarios get a table of their own, before the bridge's, against node http", () => {
  const echo = { name: "echo", unit: "msg/s" };
  const keepAlive = { name: "http on streams", unit: "req/s", streams: true, peer: "node http", goal: 1 };
  const call = { name: "call", unit: "calls/s", bridge: true, peer: "json port", goal: 2 };
  const row = (sc, rate, system) => ({ scenario: sc, system, samples: [run(rate)], ...summarize([run(rate)]) });
  const [reactor, node, http, json] = [
    { name: "reactor", reactor: true },
    { name: "node net", baseline: true },
    { name: "node http", second: true },
    { name: "json port" },
  ];
  const results = [
    row(echo, 90, reactor), row(echo, 100, node),
    row(keepAlive, 105, reactor), row(keepAlive, 100, http),
    row(call, 300, reactor), row(call, 100, json),
  ];
  const [main, streams, bridge] = sideBySide([echo, keepAlive, call], results).split("\n\n");
  assert.doesNotMatch(main, /http on streams/);
  const cells = (line) => line.split("|").map((c) => c.trim()).slice(1, 9);
  const lines = streams.split("\n");
  assert.match(lines[0], /^\| streams scenario /);
  assert.deepEqual(cells(lines[2]), ["http on streams", "reactor", "105 req/s", "node http", "1.05", "100", "200", "≥ 1.0× node http: met (per run 1.05–1.05, 1 run)"]);
  assert.deepEqual(cells(lines[3]), ["http on streams", "node http", "100 req/s", "node http", "1.00", "100", "200", "-"]);
  assert.match(bridge, /^\| bridge scenario /);
});

test("compareTree refuses a directory that is not built, and a name that is no ref", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-compare-"));
  try {
    assert.throws(() => compareTree(dir, process.cwd()), /not built \(no _build\/default\/lib\/reactor\/ebin\/reactor.app/);
    assert.throws(() => compareTree("no-such-ref-anywhere", process.cwd()), /neither a directory nor a git ref/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("stamp says which commit a tree is at and whether its files differ (docs/performance.md aside)", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-stamp-"));
  const git = (...a) => execFileSync("git", ["-C", dir, ...a], { encoding: "utf8" }).trim();
  try {
    assert.deepEqual(stamp(dir), { sha: null, dirty: false });
    git("init", "-q");
    mkdirSync(join(dir, "docs"));
    writeFileSync(join(dir, "docs", "performance.md"), "a\n");
    writeFileSync(join(dir, "x.c"), "a\n");
    git("add", ".");
    git("-c", "user.email=b@e", "-c", "user.name=bench", "commit", "-qm", "one");
    const sha = git("rev-parse", "HEAD");
    assert.deepEqual(stamp(dir), { sha, dirty: false });
    writeFileSync(join(dir, "docs", "performance.md"), "b\n"); // what make bench writes
    assert.equal(stamp(dir).dirty, false);
    writeFileSync(join(dir, "x.c"), "b\n");
    assert.equal(stamp(dir).dirty, true);
    assert.equal(describe(stamp(dir)), `${sha.slice(0, 10)} + uncommitted changes`);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
