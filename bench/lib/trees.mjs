// The builds make bench measures: this tree, and for --compare another one, either a
// directory already built or a git ref checked out and built under _build/compare/<sha>.
import { execFileSync } from "child_process";
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync } from "fs";
import { dirname, join, relative, resolve } from "path";

const git = (cwd, ...args) => execFileSync("git", ["-C", cwd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
// a child's output goes to our stderr: stdout carries only the results
const loud = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ["ignore", 2, 2] });

/**
 * The commit `dir` is at, and whether its files differ from it (tracked changes or
 * untracked files; docs/performance.md aside, which make bench itself writes).
 * { sha: null } outside git.
 */
export function stamp(dir) {
  try {
    const sha = git(dir, "rev-parse", "HEAD");
    const changes = git(dir, "status", "--porcelain", "--", ".", ":(exclude)docs/performance.md");
    return { sha, dirty: changes !== "" };
  } catch {
    return { sha: null, dirty: false };
  }
}

/** A stamp in words: "4068489abc (clean)", "4068489abc + uncommitted changes". */
export const describe = (s) => (s.sha ? `${s.sha.slice(0, 10)}${s.dirty ? " + uncommitted changes" : " (clean)"}` : "not a git checkout");

// What a built tree holds (`make all`): without these its systems cannot start.
const BUILT = ["_build/default/lib/reactor/ebin/reactor.app", "priv/reactor_nif.so", "priv/reactor_addon.node", "priv/reactor_port.js"];

/**
 * The build --compare names, ready to run: `arg` is a directory (used as it is, and must
 * be built) or a git ref (checked out once per commit into `root`/_build/compare/<sha>
 * with `git worktree add --detach`, and brought up to date with its own `make all`).
 * Returns { root, label, stamp }. Throws with the reason when it cannot.
 */
export function compareTree(arg, root) {
  if (existsSync(arg) && statSync(arg).isDirectory()) {
    const dir = resolve(arg);
    const missing = BUILT.filter((f) => !existsSync(join(dir, f)));
    if (missing.length) throw new Error(`--compare ${arg}: not built (no ${missing.join(", ")}); run make all there`);
    return { root: dir, label: arg, stamp: stamp(dir) };
  }
  let sha;
  try {
    sha = git(root, "rev-parse", "--verify", "--quiet", `${arg}^{commit}`);
  } catch {
    throw new Error(`--compare ${arg}: neither a directory nor a git ref of this repository`);
  }
  const dir = join(root, "_build", "compare", sha);
  if (!existsSync(join(dir, ".git"))) {
    process.stderr.write(`bench: checking out ${arg} (${sha.slice(0, 10)}) into ${relative(root, dir)}\n`);
    mkdirSync(dirname(dir), { recursive: true });
    // --force: a worktree whose directory was deleted (make distclean) is still registered
    loud("git", ["-C", root, "worktree", "add", "--detach", "--force", dir, sha]);
  }
  nodeModules(root, dir);
  process.stderr.write(`bench: building ${arg} in ${relative(root, dir)} (make all)\n`);
  loud("make", ["all"], dir);
  return { root: dir, label: arg, stamp: { sha, dirty: false } };
}

// The checkout's node_modules: this tree's when the package locks match, else its own npm ci.
function nodeModules(root, dir) {
  if (existsSync(join(dir, "node_modules"))) return;
  const lock = (d) => readFileSync(join(d, "package-lock.json"));
  if (existsSync(join(dir, "package-lock.json")) && lock(root).equals(lock(dir))) {
    // Hard links: no space and no npm, and nothing the build there does can delete ours.
    loud("cp", ["-al", join(root, "node_modules"), join(dir, "node_modules")]);
    // Its Makefile runs npm ci when package*.json is newer than the install; a fresh
    // checkout's are, so they are dated back.
    const old = new Date("2000-01-01T00:00:00Z");
    for (const f of ["package.json", "package-lock.json"]) utimesSync(join(dir, f), old, old);
  } else {
    process.stderr.write(`bench: ${relative(root, dir)} has its own package-lock.json: npm ci there\n`);
    loud("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund"], dir);
  }
}
