// Bundles the port runtime (ts/) into priv/reactor_port.js. erlpack and esbuild
// carry native parts and stay external: they load from node_modules at run time.
import { build } from "esbuild";

await build({
  entryPoints: ["ts/port.ts"],
  outfile: "priv/reactor_port.js",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node18",
  sourcemap: "linked",
  external: ["erlpack", "esbuild"],
  logLevel: "warning",
});
