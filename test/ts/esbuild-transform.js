// Jest transform: TypeScript through esbuild (types are checked by `tsc --noEmit`).
const { transformSync } = require("esbuild");

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, {
      loader: "ts",
      format: "cjs",
      target: "node18",
      sourcemap: "both",
      sourcefile: filename,
    });
    return { code, map };
  },
};
