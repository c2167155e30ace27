// reactor_context:eval/2: TypeScript source run in the context's Node process
// (erlang-python's py:eval/py:exec). Compiled as the loader compiles (esbuild,
// here its transform: one snippet, no bundling), then run as a script.
//
// Its value is the script's completion value, as JavaScript's own eval() and
// Node's REPL define it: the value of the last expression statement that ran
// (`x * 2` -> its value; `if (a) { 1 } else { 2 }` -> 1 or 2; a script that
// ends in a declaration -> undefined). A value that is a Promise is awaited,
// so async work ends in one: `(async () => await beam.call("x"))()`. Why not
// the last expression of an async function: that needs a parser of our own
// to find it, where the completion value is the language's definition; the
// price is that top-level `await` is a SyntaxError.
//
// Each snippet is a block of its own, in strict mode as a module is: its
// let, const, class and function declarations end with it, and the next eval
// may declare the same names. What should outlive it goes on globalThis. `import` works as in the
// protocol module: "erlang-reactor" is this runtime, other packages are
// found from the protocol's directory.
import { SourceMap, SourceMapPayload, createRequire } from "module";
import * as path from "path";
import { types } from "util";
import * as vm from "vm";
import * as api from "./index";
import { esbuild } from "./loader";

/** Where a snippet's require() comes from (a global symbol: the script runs in the global scope). */
const SCOPE = Symbol.for("erlang-reactor.eval");
/** Snippets being compiled: esbuild's service stops once there are none. */
let compiling = 0;
/** Each snippet's file name is its own (eval-1.ts, ...): a stack names whose line it is. */
let snippets = 0;

/** The source's value (a Promise of it when it is async), as the header says.
 * @param dir the directory its imports resolve from (the protocol's)
 * @throws what the snippet throws, or a SyntaxError for one that does not compile */
export async function evaluate(source: string, dir: string): Promise<unknown> {
  const file = `eval-${++snippets}.ts`;
  const code = await compile(source, file);
  const base = createRequire(path.join(dir, "<eval>.ts"));
  (globalThis as Record<symbol, unknown>)[SCOPE] = {
    require: (id: string) => (id === "erlang-reactor" ? api : base(id)),
  };
  // The block and its prelude take one line of their own: the source map
  // moves down one line with them.
  // Strict, as a module's code is; and `void 0` first, so that a snippet
  // whose statements have no value (a declaration) has undefined, not the
  // directive's string or (sloppy mode's block function) the function.
  const prelude = `"use strict"; void 0; { const require = globalThis[Symbol.for("erlang-reactor.eval")].require, module = { exports: {} }, exports = module.exports;\n`;
  const map = JSON.parse(code.map) as SourceMapPayload;
  map.mappings = ";" + map.mappings;
  try {
    return await vm.runInThisContext(prelude + code.js + "\n}", { filename: file, displayErrors: false });
  } catch (e) {
    throw sourceMapped(e, file, new SourceMap(map));
  }
}

/** Node maps a module's stack frames to its TypeScript (the inline source
 * maps of loader.ts), but not a vm script's: the snippet's frames are mapped here. */
function sourceMapped(e: unknown, file: string, map: SourceMap): unknown {
  if (!(e instanceof Error || types.isNativeError(e)) || typeof e.stack !== "string") return e;
  const at = new RegExp(`${file.replace(".", "\\.")}:(\\d+):(\\d+)`, "g");
  e.stack = e.stack.replace(at, (whole, line: string, column: string) => {
    const found = map.findEntry(Number(line) - 1, Number(column) - 1) as { originalLine?: number; originalColumn?: number };
    return found.originalLine === undefined ? whole : `${file}:${found.originalLine + 1}:${(found.originalColumn ?? 0) + 1}`;
  });
  return e;
}

async function compile(source: string, file: string): Promise<{ js: string; map: string }> {
  compiling++;
  try {
    const r = await esbuild().transform(source, {
      loader: "ts",
      format: "cjs",
      target: "node18",
      sourcemap: "external",
      sourcefile: file,
      logLevel: "silent",
    });
    return { js: r.code, map: r.map };
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { line: number; column: number } }[] }).errors;
    if (!Array.isArray(errors)) throw e;
    throw new SyntaxError(errors.map((m) => `${file}:${m.location?.line ?? 0}:${m.location?.column ?? 0}: ${m.text}`).join("\n"));
  } finally {
    // as the loader does: no service process left behind when nothing compiles
    if (--compiling === 0) await esbuild().stop?.();
  }
}
