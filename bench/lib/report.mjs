// make bench's tables, in Markdown. `results`: one entry per scenario and system,
// { scenario, system, samples: [one per run, in run order], ...summarize(samples) }.
import { execFileSync } from "child_process";
import { cpus } from "os";
import { change, goalVerdict, paired, ratio, verdict } from "./stats.mjs";

/** The machine and runtimes a run measured on, in one line. */
export function machine() {
  const otp = execFileSync("erl", ["-noshell", "-eval", 'io:format("~s", [erlang:system_info(otp_release)]), halt().'], {
    encoding: "utf8",
  });
  return `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, OTP ${otp}`;
}

const rateText = (sc, rate) => `${rate.toFixed(sc.unit === "MB/s" ? 1 : 0)} ${sc.unit}`;

/**
 * Every system side by side, each figure also as a ratio to plain Node (and to Node's
 * http); the stream handlers' scenarios (`sc.streams`) and the bridge's (`sc.bridge`)
 * each in a table of their own, as ratios to their named peers (peerTable).
 */
export function sideBySide(scenarios, results) {
  const ran = (sc) => results.some((r) => r.scenario === sc);
  const lines = [
    "| scenario | system | rate | × node net | p50 µs | p50 × node net | p99 µs | p99 × node net | × node http | CPU s (server processes) |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const sc of scenarios.filter((s) => !s.bridge && !s.streams)) {
    const rows = results.filter((r) => r.scenario === sc);
    const base = rows.find((r) => r.system.baseline);
    const second = rows.find((r) => r.system.second);
    for (const r of rows) {
      lines.push(
        `| ${sc.name} | ${r.system.name} | ${rateText(sc, r.rate)} | ${ratio(r.rate, base?.rate)} | ` +
          `${Math.round(r.p50)} | ${ratio(r.p50, base?.p50)} | ${Math.round(r.p99)} | ${ratio(r.p99, base?.p99)} | ` +
          `${second ? ratio(r.rate, second.rate) : "-"} | ${cpuText(r)} |`,
      );
    }
  }
  const tables = lines.length > 2 ? [lines.join("\n")] : [];
  for (const [kind, of] of [
    ["streams", (sc) => sc.streams],
    ["bridge", (sc) => sc.bridge],
  ]) {
    const those = scenarios.filter((sc) => of(sc) && ran(sc));
    if (those.length) tables.push(peerTable(kind, those, results));
  }
  return tables.join("\n\n");
}

const cpuText = (r) => r.cpu.map((c) => c.toFixed(2)).join(" + ");

/**
 * Scenarios measured against a named peer (the bridge's, the stream handlers'; `kind`
 * heads the table): each system's rate as a ratio to the scenario's `peer`, and the
 * reactor's ratio against the issue's `goal` for it ("met" or "not met", and the per-run
 * ratios' spread).
 */
export function peerTable(kind, scenarios, results) {
  const lines = [
    `| ${kind} scenario | system | rate | peer | × peer | p50 µs | p99 µs | target | CPU s (server processes) |`,
    "|---|---|---:|---|---:|---:|---:|---|---|",
  ];
  for (const sc of scenarios) {
    const rows = results.filter((r) => r.scenario === sc);
    const peer = rows.find((r) => r.system.name === sc.peer && !r.system.build);
    for (const r of rows) {
      const x = peer ? r.rate / peer.rate : NaN;
      const target =
        r.system.reactor && sc.goal && peer
          ? `≥ ${sc.goal.toFixed(1)}× ${sc.peer}: ${goalVerdict(x, paired(peer.samples, r.samples, "rate"), sc.goal)}`
          : "-";
      lines.push(
        `| ${sc.name} | ${r.system.name} | ${rateText(sc, r.rate)} | ${sc.peer ?? "-"} | ${ratio(r.rate, peer?.rate)} | ` +
          `${Math.round(r.p50)} | ${Math.round(r.p99)} | ${target} | ${cpuText(r)} |`,
      );
    }
  }
  return lines.join("\n");
}

const span = (p) => (p.n ? `${p.min.toFixed(2)}–${p.max.toFixed(2)}` : "-");

/**
 * Build B against build A, per scenario and reactor system: both medians, B/A and the
 * change, the spread of the per-run B/A, the verdict, both as ratios to plain Node, and
 * p50 the same way (lower is better there).
 */
export function comparison(scenarios, results) {
  const lines = [
    "| scenario | system | A | B | B/A | per-run B/A | runs | verdict | A × node net | B × node net | p50 µs A → B | p50 per-run B/A |",
    "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
  ];
  for (const sc of scenarios) {
    const rows = results.filter((r) => r.scenario === sc);
    const base = rows.find((r) => r.system.baseline);
    for (const a of rows.filter((r) => r.system.build === "A")) {
      const b = rows.find((r) => r.system.build === "B" && r.system.name === a.system.name);
      const rate = paired(a.samples, b.samples, "rate");
      const p50 = paired(a.samples, b.samples, "p50");
      lines.push(
        `| ${sc.name} | ${a.system.name} | ${rateText(sc, a.rate)} | ${rateText(sc, b.rate)} | ` +
          `${ratio(b.rate, a.rate)} (${change(a.rate, b.rate)}) | ${span(rate)} | ${rate.n} | ${verdict(rate)} | ` +
          `${ratio(a.rate, base?.rate)} | ${ratio(b.rate, base?.rate)} | ` +
          `${a.p50 > 0 ? `${Math.round(a.p50)} → ${Math.round(b.p50)}` : "-"} | ${span(p50)} |`,
      );
    }
  }
  return lines.join("\n");
}

/** Every run's rate, system by system, in the order the runs were made. */
export function perRun(scenarios, results) {
  const runs = Math.max(0, ...results.map((r) => r.samples.length));
  const lines = [
    `| scenario | system | ${Array.from({ length: runs }, (_, i) => `run ${i + 1}`).join(" | ")} |`,
    `|---|---|${"---:|".repeat(runs)}`,
  ];
  for (const sc of scenarios) {
    for (const r of results.filter((x) => x.scenario === sc)) {
      const name = r.system.build ? `${r.system.name} [${r.system.build}]` : r.system.name;
      lines.push(`| ${sc.name} | ${name} | ${r.samples.map((x) => rateText(sc, x.rate)).join(" | ")} |`);
    }
  }
  return lines.join("\n");
}
