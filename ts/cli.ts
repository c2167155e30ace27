#!/usr/bin/env node
// npx erlang-reactor check <file or dir>...: type-check protocol modules before
// they are deployed. Exit 0 when clean, 1 with the errors, 2 on bad usage.
import * as path from "path";
import { checkFiles, loadTypeScript, protocolFiles, TypeScriptMissing } from "./check";

function main(argv: string[]): number {
  const [cmd, ...targets] = argv;
  if (cmd !== "check" || targets.length === 0) {
    process.stderr.write("usage: erlang-reactor check <file.ts | dir>...\n");
    return 2;
  }
  const files = targets.flatMap((t) => protocolFiles(t));
  if (files.length === 0) {
    process.stderr.write(`no .ts files in ${targets.join(" ")}\n`);
    return 2;
  }
  let ts;
  try {
    ts = loadTypeScript(path.dirname(files[0]!));
  } catch (e) {
    if (e instanceof TypeScriptMissing) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const errors = checkFiles(ts, files, {
    index: path.join(__dirname, "index.d.ts"),
    testing: path.join(__dirname, "testing.d.ts"),
  });
  for (const e of errors) {
    const where = e.file ? `${path.relative(process.cwd(), e.file)}:${e.line}:${e.column}: ` : "";
    process.stdout.write(`${where}${e.text}\n`);
  }
  process.stdout.write(errors.length ? `${errors.length} error(s) in ${files.length} file(s)\n` : `${files.length} file(s) checked: no errors\n`);
  return errors.length ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
