// Builds the port runtime into priv/, self-contained: a release, a tarball or a
// `mix release` carries priv/ to hosts that have `node` and nothing else.
//
//   priv/reactor_port.js   the runtime (ts/)
//   priv/esbuild-api.js    esbuild's JavaScript API, loaded only while protocols compile
//   priv/erlpack.node      erlpack's native codec, required by the bundle directly
//   priv/esbuild           esbuild's binary, which compiles protocols at load time
//
// The addon (reactor_addon.node) and the NIF are built by make beside them.
import { build } from "esbuild";
import { copyFileSync, chmodSync, mkdirSync, renameSync } from "fs";
import { createRequire } from "module";
import { dirname, join } from "path";

const require = createRequire(import.meta.url);
const priv = "priv";
mkdirSync(priv, { recursive: true });

/** A copy that replaces `to` by rename: a running Node has the old file mapped
 * (a .node) or executing (esbuild), and writing it in place would crash it. */
function install(from, to) {
  copyFileSync(from, to + ".tmp");
  renameSync(to + ".tmp", to);
}

// erlpack finds its .node through `bindings`, which searches the package's own
// tree: in the bundle it is a plain require of the copy beside it.
const erlpackNative = {
  name: "erlpack-native",
  setup(b) {
    b.onResolve({ filter: /^erlpack$/ }, () => ({ path: "erlpack", namespace: "erlpack-native" }));
    b.onLoad({ filter: /.*/, namespace: "erlpack-native" }, () => ({
      contents: 'module.exports = require("./erlpack.node");',
      loader: "js",
    }));
    b.onResolve({ filter: /^\.\/erlpack\.node$/ }, () => ({ path: "./erlpack.node", external: true }));
  },
};

// The runtime requires esbuild's API from the file beside it, not from node_modules.
const esbuildApi = {
  name: "esbuild-api",
  setup(b) {
    b.onResolve({ filter: /^esbuild$/ }, () => ({ path: "./esbuild-api.js", external: true }));
  },
};

await build({
  entryPoints: ["ts/main.ts"],
  outfile: join(priv, "reactor_port.js"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node18",
  sourcemap: "linked",
  plugins: [erlpackNative, esbuildApi],
  logLevel: "warning",
});

// Apart, so that a running context does not carry its 100 KB of JavaScript
// (and their source map) in the runtime it parses at start.
await build({
  entryPoints: [require.resolve("esbuild")],
  outfile: join(priv, "esbuild-api.js"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node18",
  logLevel: "warning",
  // the API resolves itself only for buildSync's worker, which we never use
  logOverride: { "require-resolve-not-external": "silent" },
});

const erlpackDir = dirname(require.resolve("erlpack/package.json"));
install(join(erlpackDir, "build", "Release", "erlpack.node"), join(priv, "erlpack.node"));

// esbuild's JavaScript API is in the bundle; it runs the binary named by
// ESBUILD_BINARY_PATH, which the runtime points at this copy (ts/loader.ts).
const esbuildPkg = dirname(require.resolve(`@esbuild/${process.platform}-${process.arch}/package.json`));
install(join(esbuildPkg, "bin", "esbuild"), join(priv, "esbuild"));
chmodSync(join(priv, "esbuild"), 0o755);
