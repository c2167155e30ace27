// The type check (`erlang-reactor check`, `typecheck => true`): a protocol
// named as the package it imports still imports the package, and a
// TypeScript without the compiler API (7, the native one) is refused by name.
import * as fs from "fs";
import * as path from "path";
import { TypeScriptMissing, checkFiles, loadTypeScript } from "../../ts/check";

// under the repository, so that its node_modules resolve
const dir = fs.mkdtempSync(path.join(__dirname, "..", "..", "_build", "check-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const types = { index: path.join(__dirname, "..", "..", "ts", "index.ts") };

describe("checkFiles", () => {
  it("resolves a package from a file of the same name to the package, not to that file", () => {
    const file = path.join(dir, "esbuild.ts");
    fs.writeFileSync(file, `import { version } from "esbuild";\nexport const v: string = version;\n`);
    expect(checkFiles(loadTypeScript(dir), [file], types)).toEqual([]);
  });

  it("still reports a real type error", () => {
    const file = path.join(dir, "wrong.ts");
    fs.writeFileSync(file, `export const n: number = "not a number";\n`);
    const [m] = checkFiles(loadTypeScript(dir), [file], types);
    expect(m).toMatchObject({ file, line: 1, text: expect.stringMatching(/^TS2322: /) });
  });
});

describe("loadTypeScript", () => {
  it("refuses a TypeScript without the compiler API, naming its version", () => {
    const own = path.join(dir, "ts7");
    const pkg = path.join(own, "node_modules", "typescript");
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "typescript", version: "7.0.2", main: "index.js" }));
    fs.writeFileSync(path.join(pkg, "index.js"), `module.exports = { version: "7.0.2" };\n`);
    expect(() => loadTypeScript(own)).toThrow(TypeScriptMissing);
    expect(() => loadTypeScript(own)).toThrow("TypeScript 7.0.2 has no compiler API the check can use: install typescript@5");
  });
});
