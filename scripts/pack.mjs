// make package: the erlang-reactor npm package (compiled JavaScript and .d.ts
// only, the application's version) as _build/npm/erlang-reactor-<vsn>.tgz.
import { execFileSync } from "child_process";
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { dirname, join } from "path";
import { fileURLToPath } from "url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "packages", "erlang-reactor");
const out = join(root, "_build", "npm");
const stage = join(out, "erlang-reactor");

const vsn = /\{vsn,\s*"([^"]+)"\}/.exec(readFileSync(join(root, "src", "reactor.app.src"), "utf8"))[1];
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", join(src, "tsconfig.json"), "--outDir", join(stage, "dist")], {
  stdio: "inherit",
});
chmodSync(join(stage, "dist", "cli.js"), 0o755);
// The same declarations in priv/types, committed: a context with
// `typecheck => true` checks protocols against them on hosts without npm.
const types = join(root, "priv", "types");
rmSync(types, { recursive: true, force: true });
mkdirSync(types, { recursive: true });
for (const f of readdirSync(join(stage, "dist"))) if (f.endsWith(".d.ts")) cpSync(join(stage, "dist", f), join(types, f));
const pkg = JSON.parse(readFileSync(join(src, "package.json"), "utf8"));
pkg.version = vsn;
writeFileSync(join(stage, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
cpSync(join(src, "README.md"), join(stage, "README.md"));
const name = execFileSync("npm", ["pack", "--silent", "--pack-destination", out], { cwd: stage, encoding: "utf8" }).trim();
console.log(join(out, name.split("\n").pop()));
