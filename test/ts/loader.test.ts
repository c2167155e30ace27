import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// Each test loads into a fresh module registry: the factory is per context.
function fresh() {
  let mods!: { loader: typeof import("../../ts/loader"); reactor: typeof import("../../ts/reactor"); index: typeof import("../../ts/index") };
  jest.isolateModules(() => {
    mods = {
      loader: require("../../ts/loader"),
      reactor: require("../../ts/reactor"),
      index: require("../../ts/index"),
    };
  });
  return mods;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reactor-loader-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

describe("loadProtocol", () => {
  it("compiles a .ts module whose default export is the protocol", async () => {
    const m = fresh();
    const f = file(
      "echo.ts",
      `import { Protocol, Action } from "erlang-reactor";
       import { helper } from "./helper";
       export default class E extends Protocol { dataReceived(d: Buffer): Action { return helper(); } }`,
    );
    file("helper.ts", `export const helper = (): "continue" => "continue";`);
    await m.loader.loadProtocol(f, "", m.index);
    expect(m.reactor.hasProtocolFactory()).toBe(true);
  });

  it("reports a syntax error with file, line and column", async () => {
    const m = fresh();
    const f = file("broken.ts", `import { Protocol } from "erlang-reactor";\n\nexport default class X extends Protocol {\n  dataReceived( {\n}\n`);
    const err = await m.loader.loadProtocol(f, "", m.index).catch((e) => e);
    expect(err).toBeInstanceOf(m.loader.LoadError);
    expect(err.kind).toBe("protocol_compile");
    expect(err.details[0]).toMatchObject({ file: f, line: expect.any(Number), column: expect.any(Number) });
    expect(err.details[0].line).toBeGreaterThanOrEqual(4);
    expect(err.details[0].text).toMatch(/Expected/);
  });

  it("says clearly when a module yields no protocol", async () => {
    const m = fresh();
    const f = file("nothing.ts", `export const x = 1;`);
    const err = await m.loader.loadProtocol(f, "", m.index).catch((e) => e);
    expect(err.kind).toBe("no_protocol");
    expect(err.message).toMatch(/export default a Protocol class or call setProtocolFactory/);
  });

  it("reports a module that throws while loading, with its stack", async () => {
    const m = fresh();
    const f = file("throws.ts", `throw new Error("top-level boom");`);
    const err = await m.loader.loadProtocol(f, "", m.index).catch((e) => e);
    expect(err.kind).toBe("protocol_load");
    expect(err.details).toMatch(/top-level boom/);
  });

  it("runs setup code that sets the factory", async () => {
    const m = fresh();
    await m.loader.loadProtocol(
      "",
      `import { Protocol, setProtocolFactory } from "erlang-reactor";
       class P extends Protocol { dataReceived() { return "close" as const; } }
       setProtocolFactory(() => new P());`,
      m.index,
    );
    expect(m.reactor.hasProtocolFactory()).toBe(true);
  });

  it("reports a syntax error in setup code", async () => {
    const m = fresh();
    const err = await m.loader.loadProtocol("", "let x: = 1;", m.index).catch((e) => e);
    expect(err.kind).toBe("setup_compile");
    expect(err.details[0].line).toBe(1);
  });
});
