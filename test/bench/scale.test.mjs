// make bench-scale's arithmetic, without running it: node --test test/bench/
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { clientCount, cpuMs, maxConnections, rss, scaleTable, scaleTargets, summarizeScale } from "../../bench/lib/scale.mjs";

const reactor = { name: "reactor, 1 context", roles: ["BEAM", "Node"] };
const node = { name: "node net (same protocol)", roles: ["Node"], baseline: true };
const genTcp = { name: "erlang gen_tcp", roles: ["BEAM"] };

// one run's figures; rss in bytes per connection, per pid
const run = (over = {}) => ({
  n: 1000,
  held: 1000,
  rate: 5000,
  acceptCpu: [100, 150],
  rss: [2048, 2048],
  heap: 1536,
  none: { p50: 60, p99: 100 },
  among: { p50: 70, p99: 150 },
  idleCpu: [0, 0],
  idleCpuMs: 0,
  closeMs: 40,
  peersClosedMs: 30,
  errors: 0,
  ...over,
});

test("the largest N leaves each server ~100 fds of its own and margin, in whole thousands", () => {
  assert.equal(maxConnections(20000), 19000);
  assert.equal(maxConnections(1024), 1000);
  assert.equal(maxConnections(1048576), 1048000);
});

test("clients: at least 2, one per 5,000 connections, at most 8 (8 source addresses)", () => {
  assert.equal(clientCount(200), 2);
  assert.equal(clientCount(19000), 4);
  assert.equal(clientCount(100000), 8);
});

test("summarizeScale takes each figure's median over the runs, memory per pid and together", () => {
  const s = summarizeScale([run({ rate: 4000, rss: [1000, 3000] }), run({ rate: 6000, rss: [2000, 2500] }), run({ rate: 5000, rss: [3000, 2000], errors: 1 })]);
  assert.equal(s.rate, 5000);
  assert.deepEqual(s.rss, [2000, 2500]);
  assert.equal(s.rssTotal, 4500); // the median of the runs' sums (4000, 4500, 5000)
  assert.equal(s.errors, 1);
  assert.equal(s.runs, 3);
});

test("the table gives each system's memory by process and together, and ratios to plain Node at the same N", () => {
  const rows = [
    { system: reactor, ...summarizeScale([run({ rss: [2048, 2560], rate: 4000 })]) },
    { system: node, ...summarizeScale([run({ rss: [3072], rate: 5000, idleCpu: [0] })]) },
    { system: genTcp, ...summarizeScale([run({ rss: [4096], heap: 0, idleCpuMs: 0.345, held: 990 })]) },
  ];
  const lines = scaleTable(rows).split("\n");
  assert.equal(lines.length, 5);
  const cells = (i) => lines[i].split("|").map((c) => c.trim()).slice(1, -1);
  // | N | system | conn/s | × node | CPU | BEAM | Node | together | × node | heap | alone | among | p99 ratio | idle | close |
  assert.deepEqual(cells(2), ["1,000", "reactor, 1 context", "4000", "0.80", "100 + 150", "2.00", "2.50", "4.50", "1.50", "1.50", "60 / 100", "70 / 150", "1.50", "0.00", "40 / 30"]);
  assert.deepEqual(cells(3).slice(5, 10), ["-", "3.00", "3.00", "1.00", "1.50"]);
  // a system that held fewer than N says so; no Node: no heap
  assert.deepEqual(cells(4).slice(0, 10), ["1,000 (held 990)", "erlang gen_tcp", "5000", "1.00", "100", "4.00", "-", "4.00", "1.33", "-"]);
  assert.equal(cells(4)[13], "0.34");
});

test("the targets are checked for the reactor at the largest N", () => {
  const at = (n, sys, over) => ({ system: sys, ...summarizeScale([run({ n, held: n, ...over })]) });
  const text = scaleTargets([
    at(1000, reactor, { rss: [100, 100] }),
    at(1000, node, { rss: [100] }),
    at(5000, reactor, { rss: [2048, 2048], rate: 6000, among: { p50: 70, p99: 250 }, idleCpuMs: 1.2 }),
    at(5000, node, { rss: [3072], rate: 5000 }),
  ]);
  assert.match(text, /N = 5,000/);
  assert.match(text, /memory per connection.*\(4\.00 vs 3\.00 KB\): \*\*not met\*\*/);
  assert.match(text, /accept-and-handoff rate.*\(6000 vs 5000 conn\/s\): met/);
  assert.match(text, /probe p99 among N ≤ 2× alone \(250 vs 100 µs\): \*\*not met\*\*/);
  assert.match(text, /CPU while idle ≈ 0, under 1 ms per second \(1\.20 ms\/s\): \*\*not met\*\*/);
});

test("rss and cpuMs read a live process, and say 0 for one that is gone", () => {
  assert.ok(rss(process.pid) > 1 << 20);
  const t0 = cpuMs(process.pid);
  let x = 0;
  for (let i = 0; i < 2e7; i++) x += i;
  assert.ok(x > 0 && cpuMs(process.pid) > t0);
  const gone = spawnSync("true").pid;
  assert.equal(rss(gone), 0);
  assert.equal(cpuMs(gone), 0);
});
