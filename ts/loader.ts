// Loads a context's protocol: compiles a .ts/.js module with esbuild inside the
// port, evaluates it as a CommonJS module, then runs the context's setup code.
// `import ... from "erlang-reactor"` in user code resolves to this runtime.
import type * as esbuildNs from "esbuild";
import { existsSync } from "fs";
import Module from "module";
import * as path from "path";
import { checkFiles, loadTypeScript, TypeScriptMissing } from "./check";
import * as api from "./index";
import { LoadedProtocol, ProtocolSource, ProtocolTable, toLoaded } from "./protocol-table";
import { isStreamServer } from "./stream";

export interface CompileMessage {
  file: string;
  line: number;
  column: number;
  text: string;
}

/** A load failure Erlang turns into {error, {Kind, Details}}. */
export class LoadError extends Error {
  constructor(
    readonly kind: "protocol_typecheck" | "protocol_compile" | "setup_compile" | "protocol_load" | "setup_load" | "no_protocol",
    readonly details: CompileMessage[] | string,
  ) {
    super(typeof details === "string" ? details : details.map((m) => `${m.file}:${m.line}:${m.column}: ${m.text}`).join("\n"));
  }
}

// "erlang-reactor" always stays a require() of this runtime, even where a
// tsconfig "paths" entry would have esbuild bundle a second copy of it.
const runtimeExternal: esbuildNs.Plugin = {
  name: "erlang-reactor-external",
  setup(build) {
    build.onResolve({ filter: /^erlang-reactor$/ }, () => ({ path: "erlang-reactor", external: true }));
  },
};

/** esbuild, from beside the bundle (priv/) or node_modules (evaluate.ts compiles with it too). */
export function esbuild(): typeof esbuildNs {
  // In priv/ the API is bundled and its binary sits beside the bundle (build.mjs);
  // run from sources (tests), both come from node_modules.
  const shipped = path.join(__dirname, "esbuild");
  if (existsSync(shipped)) process.env.ESBUILD_BINARY_PATH = shipped;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require("esbuild");
}

async function compile(
  opts: { file: string } | { source: string; resolveDir: string },
  kind: "protocol_compile" | "setup_compile",
): Promise<{ code: string; filename: string }> {
  const common: esbuildNs.BuildOptions = {
    bundle: true,
    write: false,
    platform: "node",
    format: "cjs",
    target: "node18",
    // npm packages (and "erlang-reactor" itself) stay require() calls: the
    // module's own packages load from its node_modules at run time.
    packages: "external",
    plugins: [runtimeExternal],
    sourcemap: "inline",
    logLevel: "silent",
  };
  const filename = "file" in opts ? path.resolve(opts.file) : path.join(opts.resolveDir, "<setup_code>.ts");
  // esbuild reports locations relative to its working directory: pin it.
  const workDir = "file" in opts ? path.dirname(filename) : opts.resolveDir;
  try {
    const result = await esbuild().build(
      "file" in opts
        ? { ...common, absWorkingDir: workDir, entryPoints: [filename] }
        : {
            ...common,
            absWorkingDir: workDir,
            stdin: { contents: opts.source, loader: "ts", resolveDir: opts.resolveDir, sourcefile: "setup_code.ts" },
          },
    );
    return { code: result.outputFiles![0].text, filename };
  } catch (e) {
    const errors = (e as esbuildNs.BuildFailure).errors;
    if (!Array.isArray(errors)) throw new LoadError(kind, [{ file: filename, line: 0, column: 0, text: String(e) }]);
    throw new LoadError(
      kind,
      errors.map((m) => ({
        file: m.location?.file ? path.resolve(workDir, m.location.file) : filename,
        line: m.location?.line ?? 0,
        column: m.location?.column ?? 0,
        text: m.text,
      })),
    );
  }
}

function evaluate(
  code: string,
  filename: string,
  kind: "protocol_load" | "setup_load",
  runtime: object,
): Record<string, unknown> {
  const m = new Module(filename);
  // `import ... from "erlang-reactor"` gets this very runtime, whatever is installed.
  m.require = ((id: string) => (id === "erlang-reactor" ? runtime : Module.prototype.require.call(m, id))) as NodeRequire;
  m.filename = filename;
  // @ts-expect-error -- internal but stable: the lookup paths require() walks
  m.paths = Module._nodeModulePaths(path.dirname(filename));
  try {
    // @ts-expect-error -- _compile registers the inline source map for stack traces
    m._compile(code, filename);
  } catch (e) {
    throw new LoadError(kind, e instanceof Error ? (e.stack ?? e.message) : String(e));
  }
  return m.exports as Record<string, unknown>;
}

/** What `import ... from "erlang-reactor"` gives a module loaded for
 * `protocols`: setProtocolFactory stages into `slot`, installed only once the
 * whole load has succeeded (a failed reload leaves the old code serving). */
function runtimeFor(protocols: ProtocolTable, slot: { loaded?: LoadedProtocol }): object {
  return Object.assign({}, api, {
    setProtocolFactory: (f: ProtocolSource) => {
      slot.loaded = toLoaded(f);
    },
    getProtocol: (fd: number) => protocols.getProtocol(fd),
  });
}

// erlang-reactor's declarations for the type check: shipped in priv/types
// (scripts/pack.mjs writes them); from the sources, the same directory.
function declarations(): { index: string; testing: string } {
  const dir = [path.join(__dirname, "types"), path.join(__dirname, "..", "priv", "types")].find((d) => existsSync(d));
  if (!dir) throw new LoadError("protocol_typecheck", "erlang-reactor's declarations (priv/types) are missing: run make package");
  return { index: path.join(dir, "index.d.ts"), testing: path.join(dir, "testing.d.ts") };
}

/** The context's `typecheck => true`: the protocol is refused with its type
 * errors, as it would be with compile errors. TypeScript comes from the
 * protocol's own directory (a peer dependency). */
function typecheck(file: string): void {
  let ts;
  try {
    ts = loadTypeScript(path.dirname(path.resolve(file)));
  } catch (e) {
    if (e instanceof TypeScriptMissing) throw new LoadError("protocol_typecheck", e.message);
    throw e;
  }
  const errors = checkFiles(ts, [path.resolve(file)], declarations());
  if (errors.length) throw new LoadError("protocol_typecheck", errors);
}

export interface LoadOptions {
  /** type-check the protocol first (strict) */
  typecheck?: boolean;
}

/** Load `protocolFile` (may be empty), then `setupCode` (may be empty), and
 * install the protocol they set in `protocols` (replacing any before it: a
 * reload); returns it, or throws a LoadError and installs nothing. */
export async function loadProtocol(
  protocolFile: string,
  setupCode: string,
  protocols: ProtocolTable,
  opts: LoadOptions = {},
): Promise<LoadedProtocol> {
  const slot: { loaded?: LoadedProtocol } = {};
  const runtime = runtimeFor(protocols, slot);
  // what Erlang may call by name: the module's exports, then the setup code's
  const callable: Record<string, unknown> = {};
  let dir = process.cwd();
  if (protocolFile && opts.typecheck) typecheck(protocolFile);
  if (protocolFile) {
    const { code, filename } = await compile({ file: protocolFile }, "protocol_compile");
    const exports = evaluate(code, filename, "protocol_load", runtime);
    Object.assign(callable, exports);
    dir = path.dirname(filename);
    let candidate = exports.default;
    // a Promise of one: what top-level await would give, which CommonJS has not
    if (typeof (candidate as PromiseLike<unknown> | undefined)?.then === "function") {
      try {
        candidate = await candidate;
      } catch (e) {
        throw new LoadError("protocol_load", e instanceof Error ? (e.stack ?? e.message) : String(e));
      }
    }
    if (!slot.loaded && (typeof candidate === "function" || isStreamServer(candidate))) {
      try {
        slot.loaded = toLoaded(candidate as ProtocolSource);
      } catch (e) {
        throw new LoadError("protocol_load", (e as Error).message);
      }
    }
  }
  if (setupCode) {
    const { code, filename } = await compile({ source: setupCode, resolveDir: dir }, "setup_compile");
    Object.assign(callable, evaluate(code, filename, "setup_load", runtime));
  }
  // esbuild keeps a service process alive for further builds: there are none.
  await esbuild().stop?.();
  const loaded = slot.loaded;
  if (!loaded) {
    throw new LoadError(
      "no_protocol",
      `${protocolFile || "setup_code"} yields no protocol: export default a Protocol class or a net.Server (or a Promise of one), or call setProtocolFactory()`,
    );
  }
  loaded.exports = callable;
  protocols.install(loaded);
  return loaded;
}
