import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import * as loader from "../../ts/loader";
import { ProtocolTable } from "../../ts/protocol-table";

// Each test loads into a protocol table of its own: no module state to reset.
function fresh() {
  const protocols = new ProtocolTable();
  return {
    loader: {
      LoadError: loader.LoadError,
      loadProtocol: (file: string, setup: string) => loader.loadProtocol(file, setup, protocols),
    },
    protocols,
  };
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
    await m.loader.loadProtocol(f, "");
    expect(typeof m.protocols.protocolFactory).toBe("function");
  });

  it("reports a syntax error with file, line and column", async () => {
    const m = fresh();
    const f = file("broken.ts", `import { Protocol } from "erlang-reactor";\n\nexport default class X extends Protocol {\n  dataReceived( {\n}\n`);
    const err = await m.loader.loadProtocol(f, "").catch((e) => e);
    expect(err).toBeInstanceOf(m.loader.LoadError);
    expect(err.kind).toBe("protocol_compile");
    expect(err.details[0]).toMatchObject({ file: f, line: expect.any(Number), column: expect.any(Number) });
    expect(err.details[0].line).toBeGreaterThanOrEqual(4);
    expect(err.details[0].text).toMatch(/Expected/);
  });

  it("says clearly when a module yields no protocol", async () => {
    const m = fresh();
    const f = file("nothing.ts", `export const x = 1;`);
    const err = await m.loader.loadProtocol(f, "").catch((e) => e);
    expect(err.kind).toBe("no_protocol");
    expect(err.message).toMatch(/export default a Protocol class or a net.Server \(or a Promise of one\), or call setProtocolFactory/);
  });

  it("awaits a default export that is a Promise (top-level await's stand-in), and says why one rejected", async () => {
    const m = fresh();
    const f = file(
      "later.ts",
      `import * as net from "net";
       async function make(): Promise<net.Server> {
         await new Promise((r) => setTimeout(r, 5)); // e.g. Aedes.createBroker()
         return net.createServer((s) => s.end("hi"));
       }
       export default make();`,
    );
    await m.loader.loadProtocol(f, "");
    expect(typeof m.protocols.protocolFactory).toBe("function");
    const g = file("rejects.ts", `export default Promise.reject(new Error("no broker"));`);
    const err = await fresh().loader.loadProtocol(g, "").catch((e) => e);
    expect(err.kind).toBe("protocol_load");
    expect(err.details).toMatch(/no broker/);
  });

  it("reports a module that throws while loading, with its stack", async () => {
    const m = fresh();
    const f = file("throws.ts", `throw new Error("top-level boom");`);
    const err = await m.loader.loadProtocol(f, "").catch((e) => e);
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
    );
    expect(typeof m.protocols.protocolFactory).toBe("function");
  });

  it("reports a syntax error in setup code", async () => {
    const m = fresh();
    const err = await m.loader.loadProtocol("", "let x: = 1;").catch((e) => e);
    expect(err.kind).toBe("setup_compile");
    expect(err.details[0].line).toBe(1);
  });
});

describe("no module state", () => {
  it("loads two protocols side by side, each into its own protocol table", async () => {
    const a = fresh();
    const b = fresh();
    const fa = await a.loader.loadProtocol(
      file("a.ts", `import { Protocol } from "erlang-reactor"; export default class A extends Protocol { dataReceived() { return "close" as const; } }`),
      "",
    );
    const fb = await b.loader.loadProtocol(
      file("b.ts", `import { Protocol } from "erlang-reactor"; export default class B extends Protocol { dataReceived() { return "continue" as const; } }`),
      "",
    );
    expect(fa.factory().constructor.name).toBe("A");
    expect(fb.factory().constructor.name).toBe("B");
    expect(a.protocols.protocolFactory).toBe(fa.factory);
    expect(b.protocols.protocolFactory).toBe(fb.factory);
  });

  it("reloads: new code is installed, and a failed reload leaves the old one serving", async () => {
    const m = fresh();
    const v1 = await m.loader.loadProtocol(
      file("v1.ts", `import { Protocol } from "erlang-reactor"; export default class V1 extends Protocol { dataReceived() { return "close" as const; } }`),
      "",
    );
    const broken = await m.loader.loadProtocol(file("v2.ts", `export default class V2 extends {`), "").catch((e) => e);
    expect(broken.kind).toBe("protocol_compile");
    const throwing = await m.loader.loadProtocol(
      file("v3.ts", `import { Protocol, setProtocolFactory } from "erlang-reactor"; setProtocolFactory(class V3 extends Protocol { dataReceived() { return "close" as const; } }); throw new Error("boom at load");`),
      "",
    ).catch((e) => e);
    expect(throwing.kind).toBe("protocol_load");
    expect(m.protocols.protocolFactory).toBe(v1.factory);
    const v4 = await m.loader.loadProtocol(
      file("v4.ts", `import { Protocol } from "erlang-reactor"; export default class V4 extends Protocol { static adopt(old: Protocol) { return new V4(); } dataReceived() { return "close" as const; } }`),
      "",
    );
    expect(m.protocols.protocolFactory!().constructor.name).toMatch(/V4$/);
    expect(typeof v4.adopt).toBe("function");
    expect(v1.adopt).toBeUndefined();
  });

  it("says where setProtocolFactory works when it is imported outside a context", () => {
    const { setProtocolFactory } = require("../../ts/index");
    expect(() => setProtocolFactory(() => null)).toThrow(/protocol module or setup_code/);
  });
});
