// What make bench reports of its runs: medians, ratios, and B against A run by run.

/** The median of `xs` (the lower middle one of an even count); 0 for none. */
export const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : 0;
};

/** `a / b` to two decimals, "-" when `b` is 0 or missing. */
export const ratio = (a, b) => (b ? (a / b).toFixed(2) : "-");

/**
 * One system's runs in one scenario, each figure the median over the runs.
 * `samples`: [{ rate, p50, p99, errors, cpu: [s per server process] }].
 */
export function summarize(samples) {
  const of = (k) => median(samples.map((x) => x[k]));
  return {
    rate: of("rate"),
    p50: of("p50"),
    p99: of("p99"),
    errors: samples.reduce((n, x) => n + x.errors, 0),
    cpu: (samples[0]?.cpu ?? []).map((_, i) => median(samples.map((x) => x.cpu[i] ?? 0))),
  };
}

/**
 * B against A run by run: run i's B figure over run i's A figure (the two ran back to back
 * on the same load), for the runs where both measured `key`; with the smallest and largest.
 */
export function paired(a, b, key) {
  const ratios = a
    .map((x, i) => (x[key] > 0 && b[i]?.[key] > 0 ? b[i][key] / x[key] : NaN))
    .filter(Number.isFinite);
  return { ratios, n: ratios.length, min: Math.min(...ratios), max: Math.max(...ratios) };
}

/** Paired runs a verdict needs: all of 5 on one side of 1 by chance is 1 in 16. */
export const VERDICT_RUNS = 5;

/**
 * A rate's verdict: "within noise" when the per-run ratios fall on both sides of 1 (the
 * difference is within the spread); "B faster" / "B slower" when every one of at least
 * VERDICT_RUNS runs agrees; none with fewer runs.
 */
export function verdict(p) {
  if (p.n < VERDICT_RUNS) return `none (${p.n} of ${VERDICT_RUNS} runs)`;
  if (p.min <= 1 && p.max >= 1) return "within noise";
  return p.min > 1 ? "B faster" : "B slower";
}

/** `b` against `a` as a signed percentage ("+3.1%"); "-" without both. */
export const change = (a, b) => (a > 0 && b > 0 ? `${b >= a ? "+" : ""}${((b / a - 1) * 100).toFixed(1)}%` : "-");

/**
 * Runs a scenario with a target (the issue's ≥ 1.0×: `goal`) gets at the least in a full
 * `make bench`: its reactor and its peer sit near parity, where the median of three runs on
 * this VM's noise (±20-40% between consecutive runs) decides met or not met by chance.
 */
export const GOAL_RUNS = 7;

/**
 * The target's verdict: "met" when the ratio of the medians reaches `goal`, else "not met";
 * with the spread of the per-run ratios `p` (paired()), which says how far either is from
 * a coin's toss on this machine.
 */
export function goalVerdict(x, p, goal) {
  const spread = p.n ? ` (per run ${p.min.toFixed(2)}–${p.max.toFixed(2)}, ${p.n} run${p.n === 1 ? "" : "s"})` : "";
  return `${x >= goal ? "met" : "not met"}${spread}`;
}
