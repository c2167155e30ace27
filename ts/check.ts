// Type-checks protocol modules against erlang-reactor's declarations, before
// they are deployed (`npx erlang-reactor check priv/`) or as a context starts
// (`typecheck => true`). TypeScript is the user's own (a peer dependency):
// it is found from the directory checked, or from where this runs.
import * as fs from "fs";
import * as path from "path";

export interface CheckMessage {
  file: string;
  line: number;
  column: number;
  text: string;
}

export class TypeScriptMissing extends Error {}

type Ts = typeof import("typescript");

/** The .ts files under `target` (a file, or a directory without node_modules). */
export function protocolFiles(target: string): string[] {
  const st = fs.statSync(target);
  if (st.isFile()) return [path.resolve(target)];
  const out: string[] = [];
  for (const e of fs.readdirSync(target, { withFileTypes: true })) {
    const p = path.join(target, e.name);
    if (e.isDirectory() && e.name !== "node_modules" && !e.name.startsWith(".")) out.push(...protocolFiles(p));
    else if (e.isFile() && /\.(ts|mts|cts)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(path.resolve(p));
  }
  return out.sort();
}

/** TypeScript, from the checked files' directory or from here. */
export function loadTypeScript(from: string): Ts {
  let ts: Ts | undefined;
  for (const base of [from, process.cwd(), __dirname]) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      ts = require(require.resolve("typescript", { paths: [base] })) as Ts;
      break;
    } catch {
      /* next */
    }
  }
  if (!ts) throw new TypeScriptMissing("TypeScript is not installed where the protocols are (npm install --save-dev typescript@5)");
  // TypeScript 7, the native compiler, has no createProgram in its JavaScript API
  if (typeof ts.createProgram !== "function" || !ts.ScriptTarget)
    throw new TypeScriptMissing(`TypeScript ${String(ts.version)} has no compiler API the check can use: install typescript@5 (npm install --save-dev typescript@5)`);
  return ts;
}

/**
 * Every type error in `files`, strict, with "erlang-reactor" resolved to
 * `types` (this package's declarations) unless the project has its own.
 */
export function checkFiles(ts: Ts, files: string[], types: { index: string; testing?: string }): CheckMessage[] {
  const paths: Record<string, string[]> = { "erlang-reactor": [types.index] };
  if (types.testing) paths["erlang-reactor/testing"] = [types.testing];
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    skipLibCheck: true,
    types: ["node"],
    // no baseUrl: with one, "fastify" imported from fastify.ts would be that file
    paths,
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.start === undefined) return { file: "", line: 0, column: 0, text };
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return { file: d.file.fileName, line: line + 1, column: character + 1, text: `TS${d.code}: ${text}` };
  });
}
