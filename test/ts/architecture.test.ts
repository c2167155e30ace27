// docs/ARCHITECTURE.md held against the code: every file, module, function
// and name it cites must exist under that name, and every source file must be
// on its module map. Cheap, and it fails the day the page and the code drift.
import * as fs from "fs";
import * as path from "path";

const root = path.join(__dirname, "..", "..");
const read = (rel: string) => fs.readFileSync(path.join(root, rel), "utf8");
const list = (dir: string, ext: RegExp) =>
  fs
    .readdirSync(path.join(root, dir))
    .filter((f) => ext.test(f))
    .map((f) => `${dir}/${f}`);

/** Source with its comments removed: a name that lives on only in a comment
 * does not count as existing. String literals stay (error codes, atoms). */
function code(rel: string): string {
  const text = read(rel);
  if (/\.(erl|hrl|app\.src)$/.test(rel)) return text.replace(/%.*$/gm, "");
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

interface Sources {
  /** every file, repo-relative, that a path on the page may name */
  exists(rel: string): boolean;
  /** file basenames in the source and test trees */
  basenames: Set<string>;
  /** Erlang modules (erlang/src and test/erlang) -> their code */
  erlang: Map<string, string>;
  /** code the page's names are looked up in, by file */
  code: Map<string, string>;
}

function sources(): Sources {
  const files = [
    ...list("erlang/src", /\.(erl|hrl)$/),
    ...list("test/erlang", /\.erl$/),
    ...list("native", /\.h$/),
    ...list("native/nif", /\.[ch]$/),
    ...list("native/addon", /\.(h|cc)$/),
    ...list("ts", /\.ts$/),
    // this test names things that do not exist, on purpose
    ...list("test/ts", /\.ts$/).filter((f) => f !== "test/ts/architecture.test.ts"),
    "src/reactor.app.src",
    "build.mjs",
  ];
  const erlang = new Map<string, string>();
  const texts = new Map<string, string>();
  for (const f of files) {
    texts.set(f, code(f));
    if (f.endsWith(".erl")) erlang.set(path.basename(f, ".erl"), texts.get(f)!);
  }
  const basenames = new Set<string>();
  for (const dir of ["erlang/src", "test/erlang", "native", "native/nif", "native/addon", "ts", "test/ts", "test/golden", "docs"]) {
    for (const f of fs.readdirSync(path.join(root, dir))) basenames.add(f);
  }
  return { exists: (rel) => fs.existsSync(path.join(root, rel)), basenames, erlang, code: texts };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const word = (w: string) => new RegExp(`(^|[^A-Za-z0-9_$])${escape(w)}($|[^A-Za-z0-9_$])`, "m");

/** How many arguments each clause head `name(...)` at a line's start has. */
function arities(erl: string, name: string): Set<number> {
  const found = new Set<number>();
  const head = new RegExp(`^${escape(name)}\\(`, "gm");
  for (let m = head.exec(erl); m; m = head.exec(erl)) {
    let depth = 1;
    let commas = 0;
    let empty = true;
    for (let i = m.index + m[0].length; i < erl.length && depth > 0; i++) {
      const c = erl[i];
      if (c === '"') {
        while (++i < erl.length && erl[i] !== '"') if (erl[i] === "\\") i++;
      } else if (c === "$") {
        i++;
      } else if ("([{".includes(c) || (c === "<" && erl[i + 1] === "<")) {
        depth++;
        if (c === "<") i++;
      } else if (")]}".includes(c) || (c === ">" && erl[i + 1] === ">")) {
        depth--;
        if (c === ">") i++;
      } else if (c === "," && depth === 1) {
        commas++;
      }
      if (depth > 0 && !/\s/.test(c)) empty = false;
    }
    found.add(empty ? 0 : commas + 1);
  }
  return found;
}

function exported(erl: string): Set<string> {
  const out = new Set<string>();
  for (const m of erl.matchAll(/-export\(\[([^\]]*)\]\)/g)) {
    for (const f of m[1].split(",")) out.add(f.trim());
  }
  return out;
}

function erlangFunction(src: Sources, mod: string, fun: string, arity: number): boolean {
  const erl = src.erlang.get(mod);
  return erl !== undefined && (exported(erl).has(`${fun}/${arity}`) || arities(erl, fun).has(arity));
}

function inCode(src: Sources, name: string, only?: (file: string) => boolean): boolean {
  const re = word(name);
  for (const [f, text] of src.code) if ((!only || only(f)) && re.test(text)) return true;
  return false;
}

/** Where TypeScript declares `name` (a class, interface, type, function or const). */
function tsDeclaration(src: Sources, name: string): string | undefined {
  const re = new RegExp(`\\b(class|interface|type|function|const|enum)\\s+${escape(name)}\\b`);
  for (const [f, text] of src.code) if (f.startsWith("ts/") && re.test(text)) return f;
  return undefined;
}

const PATH = /\b(?:erlang|native|ts|test|docs|src|scripts|examples|bench)\/[\w./-]*[\w/]/g;
const MODULE = /\breactor(?:_\w+)?\b/g;

/** What on the page does not match the code: one line each. */
function problems(page: string, src: Sources): string[] {
  const bad: string[] = [];
  const prose = page.replace(/```[\s\S]*?```/g, "");
  const spans = new Set([...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1].trim()));

  // Paths, wherever they are written.
  for (const p of new Set(page.match(PATH) ?? [])) if (!src.exists(p)) bad.push(`no such path: ${p}`);

  // Erlang module-like words anywhere: a module, or a name the code uses
  // (a registered name, a child id, a message tag).
  for (const m of new Set([...page.matchAll(MODULE)].map((x) => x[0]))) {
    if (!src.erlang.has(m) && !inCode(src, m, (f) => /\.(erl|hrl|app\.src)$/.test(f) || f === "build.mjs")) {
      bad.push(`no such Erlang module or name: ${m}`);
    }
  }

  for (const span of spans) {
    const s = span.replace(/^"(.*)"$/, "$1").replace(/\(\)$/, "");
    let m: RegExpMatchArray | null;
    if ((m = /^(reactor\w*):(\w+)\/(\d+)$/.exec(s))) {
      if (!src.erlang.has(m[1])) bad.push(`no such module: ${m[1]} (in ${span})`);
      else if (!erlangFunction(src, m[1], m[2], Number(m[3]))) bad.push(`no such function: ${span}`);
    } else if ((m = /^([a-z]\w*)\/(\d+)$/.exec(s))) {
      const [, fun, n] = m;
      if (![...src.erlang.keys()].some((mod) => erlangFunction(src, mod, fun, Number(n)))) bad.push(`no such function: ${span}`);
    } else if ((m = /^\?([A-Z_][A-Z0-9_]*)$/.exec(s))) {
      if (!inCode(src, `-define(${m[1]}`)) bad.push(`no such macro: ${span}`);
    } else if ((m = /^([A-Za-z_]\w*)\.([A-Za-z_]\w*)$/.exec(s)) && !/^[\w-]+\.(erl|hrl|ts|c|cc|h|md|mjs|js|bin|etf)$/.test(s)) {
      const file = tsDeclaration(src, m[1]);
      if (!file) bad.push(`no such TypeScript declaration: ${m[1]} (in ${span})`);
      else if (!word(m[2]).test(src.code.get(file)!)) bad.push(`no ${m[2]} in ${file} (in ${span})`);
    } else if (/^[\w-]+\.(erl|hrl|ts|c|cc|h|md|mjs|js|bin|etf)$/.test(s)) {
      if (!src.basenames.has(s)) bad.push(`no such file: ${s}`);
    } else if (/^[A-Za-z_]\w*$/.test(s)) {
      if (!inCode(src, s)) bad.push(`not in the code: ${s}`);
    }
  }
  return bad;
}

/** The source files the module map must list, each by name or path. */
function unlisted(page: string): string[] {
  const erl = list("erlang/src", /\.(erl|hrl)$/).map((f) => {
    const base = path.basename(f);
    return { f, named: base.endsWith(".erl") ? word(`\`${base.replace(/\.erl$/, "")}\``).test(page) : page.includes(base) };
  });
  const others = [...list("native", /\.h$/), ...list("native/nif", /\.[ch]$/), ...list("native/addon", /\.(h|cc)$/), ...list("ts", /\.ts$/)].map(
    (f) => ({ f, named: page.includes(f) }),
  );
  return [...erl, ...others].filter((x) => !x.named).map((x) => x.f);
}

describe("docs/ARCHITECTURE.md", () => {
  const page = read("docs/ARCHITECTURE.md");
  const src = sources();

  it("names only files, modules, functions and names the code has", () => {
    expect(problems(page, src)).toEqual([]);
  });

  it("lists every Erlang module, native file and ts/ file", () => {
    expect(unlisted(page)).toEqual([]);
  });

  it("is one page", () => {
    expect(page.split("\n").length).toBeLessThanOrEqual(240);
  });

  it("is linked from the README", () => {
    expect(read("README.md")).toContain("(docs/ARCHITECTURE.md)");
  });

  it("catches a page that drifted from the code", () => {
    const drifted = [
      "`reactor_gone` and `reactor_context:no_such/3`, `reactor_context:start_link/7`,",
      "`ts/gone.ts`, native/nif/gone.c, `Port.noSuchMethod`, `NoSuchClass.x`, `noSuchName`,",
      "`?NO_SUCH_MACRO`, `gone.erl`, `no_such_fun/2`",
    ].join("\n");
    expect(problems(drifted, src)).toEqual([
      "no such path: ts/gone.ts",
      "no such path: native/nif/gone.c",
      "no such Erlang module or name: reactor_gone",
      "not in the code: reactor_gone",
      "no such function: reactor_context:no_such/3",
      "no such function: reactor_context:start_link/7",
      "no noSuchMethod in ts/port.ts (in Port.noSuchMethod)",
      "no such TypeScript declaration: NoSuchClass (in NoSuchClass.x)",
      "not in the code: noSuchName",
      "no such macro: ?NO_SUCH_MACRO",
      "no such file: gone.erl",
      "no such function: no_such_fun/2",
    ]);
    expect(unlisted("")).toContain("erlang/src/reactor_context.erl");
    expect(unlisted("")).toContain("ts/port.ts");
  });
});
