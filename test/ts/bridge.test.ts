// The bridge over the port and its fake addon (test/ts/fake-addon.ts), the
// test playing Erlang: bridge frames in as reactor_bridge writes them
// ("B" + term_to_binary), what comes back decoded with decodeTerm. Protocols
// load for real (esbuild).
import * as erlpack from "erlpack";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beam, setBeamBackend } from "../../ts/beam";
import { BRIDGE_TAG, Bridge, frameOf } from "../../ts/bridge";
import { ReactorError } from "../../ts/errors";
import { frame } from "../../ts/framing";
import { Outbox } from "../../ts/outbox";
import { Port } from "../../ts/port";
import { ProtocolTable } from "../../ts/protocol-table";
import { Atom, Pid, Term, Tuple, atom, decodeTerm, encodeTerm, tuple } from "../../ts/term";
import { BATCH_FD, FRAME_FD, FakeAddon } from "./fake-addon";

jest.setTimeout(30000);

const toPort = (...msgs: unknown[]) => Buffer.concat(msgs.map((m) => frame(erlpack.pack(m as never))));
/** A bridge message as Erlang writes it: "B" + term_to_binary of the tuple. */
const bridgeIn = (...elements: unknown[]) => frame(Buffer.concat([Buffer.of(BRIDGE_TAG), encodeTerm(tuple(...elements))]));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reactor-bridge-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const FIXTURE = `
import { Protocol, beam, atom, tuple } from "erlang-reactor";
export default class P extends Protocol {}
export function add(a: number, b: number): number { return a + b; }
export async function later(x: unknown): Promise<unknown> { await new Promise((r) => setTimeout(r, 5)); return x; }
export function fail(): never {
  throw new RangeError("no such thing");
}
export async function reject(): Promise<never> { throw new Error("async no"); }
export function fn(): unknown { return [1, () => 1]; } // (an array: a plain object made in the module's realm is not plain to jest's)
export function self(): unknown { return beam.self(); }
export function ask(name: Buffer, ...args: unknown[]): Promise<unknown> { return beam.call(String(name), ...args); }
export const notAFunction = 42;
`;

async function until(cond: () => boolean, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A port that loaded the fixture (with `setup` as its setup code) and said ready. */
async function ready(setup = "", opts: Record<string, unknown> = {}) {
  const file = path.join(dir, "fixture.ts");
  fs.writeFileSync(file, FIXTURE);
  const addon = new FakeAddon();
  const exits: number[] = [];
  const port = new Port(addon, new Outbox(addon, FRAME_FD), new ProtocolTable(), {
    exit: (code) => {
      exits.push(code);
      throw new Error(`exit(${code})`);
    },
    stopped: () => undefined,
  });
  addon.channel.push({ ids: [0], fds: [BATCH_FD], truncated: false });
  port.receive(toPort(["init", { context: "t", channel: "/run/ch.sock", protocol: file, setup_code: setup, ...opts }]));
  await until(() => addon.frames().length > 0, "ready");
  expect(addon.frames()).toEqual([["ready"]]);
  return { addon, port, exits };
}

const ok = atom("ok");
const error = atom("error");
const result = atom("result");

/** The result Erlang got for call `id`, once it is there. */
async function resultOf(addon: FakeAddon, id: number): Promise<Term[]> {
  const find = () => addon.bridgeFrames().find((m) => m[0] === result && m[1] === id);
  await until(() => find() !== undefined, `the result of call ${id}`);
  return find()!.slice(2);
}

afterEach(() => setBeamBackend(undefined));

describe("Erlang calls TypeScript", () => {
  it("calls an exported function by name with the args, and answers its value", async () => {
    const { addon, port } = await ready();
    port.receive(bridgeIn(atom("call"), 1, Buffer.from("add"), [2, 40]));
    expect(await resultOf(addon, 1)).toEqual([ok, 42]);
  });

  it("awaits an async function", async () => {
    const { addon, port } = await ready();
    port.receive(bridgeIn(atom("call"), 2, Buffer.from("later"), [Buffer.from([0, 255])]));
    expect(await resultOf(addon, 2)).toEqual([ok, Buffer.from([0, 255])]);
  });

  it("answers {exception, Message, Stack} for a throw, a rejection, and a value that cannot cross", async () => {
    const { addon, port } = await ready();
    port.receive(bridgeIn(atom("call"), 3, Buffer.from("fail"), []));
    port.receive(bridgeIn(atom("call"), 4, Buffer.from("reject"), []));
    port.receive(bridgeIn(atom("call"), 5, Buffer.from("fn"), []));
    const [s3, e3] = await resultOf(addon, 3);
    expect(s3).toBe(error);
    const [tag, message, stack] = (e3 as Tuple).elements as [Atom, Buffer, Buffer];
    expect(tag).toBe(atom("exception"));
    expect(message.toString()).toBe("RangeError: no such thing");
    expect(stack.toString()).toMatch(/fixture\.ts:\d+:\d+/); // the .ts file (the CT suite checks the line: jest maps its own way)
    const [, e4] = await resultOf(addon, 4);
    expect(((e4 as Tuple).elements[1] as Buffer).toString()).toBe("Error: async no");
    const [, e5] = await resultOf(addon, 5);
    expect(((e5 as Tuple).elements[1] as Buffer).toString()).toBe("TypeError: result[1]: cannot encode a function");
  });

  it("answers {no_function, Name} for a name nothing exports as a function", async () => {
    const { addon, port } = await ready();
    for (const [id, name] of [[6, "nope"], [7, "notAFunction"], [8, "toString"], [9, "__proto__"], [10, "default"]] as const) {
      port.receive(bridgeIn(atom("call"), id, Buffer.from(name), []));
      expect(await resultOf(addon, id)).toEqual([error, tuple(atom("no_function"), Buffer.from(name))]);
    }
  });

  it("calls what the setup code exports too", async () => {
    const { addon, port } = await ready("export function twice(x: number) { return 2 * x; }");
    port.receive(bridgeIn(atom("call"), 10, Buffer.from("twice"), [21]));
    expect(await resultOf(addon, 10)).toEqual([ok, 42]);
  });

  it("ends the port on a bridge frame that does not decode", async () => {
    const { port, exits } = await ready();
    expect(() => port.receive(frame(Buffer.from("Bnot a term")))).toThrow("exit(3)");
    expect(exits).toEqual([3]);
  });
});

describe("TypeScript calls Erlang (beam)", () => {
  it("beam.self() is the pid Erlang gave in init", async () => {
    // term_to_binary(self()) of a pid: NEW_PID_EXT, node nonode@nohost
    const pid = Buffer.from([131, 88, 119, 13, ...Buffer.from("nonode@nohost"), 0, 0, 0, 83, 0, 0, 0, 0, 0, 0, 0, 0]);
    const { addon, port } = await ready("", { self: pid.toString("base64") });
    port.receive(bridgeIn(atom("call"), 1, Buffer.from("self"), []));
    const [, p] = await resultOf(addon, 1);
    expect(p).toBeInstanceOf(Pid);
    expect(encodeTerm(p)).toEqual(pid);
    expect(beam.self().equals(p)).toBe(true);
  });

  it("sends {call, ReqId, Name, Args, Timeout} and resolves with Erlang's reply", async () => {
    const { addon, port } = await ready();
    port.receive(bridgeIn(atom("call"), 1, Buffer.from("ask"), [Buffer.from("auth.check"), Buffer.from("tok")]));
    await until(() => addon.bridgeFrames().some((m) => m[0] === atom("call")), "the beam.call");
    const [, reqId, name, args, timeout] = addon.bridgeFrames().find((m) => m[0] === atom("call"))!;
    expect([name, args, timeout]).toEqual([Buffer.from("auth.check"), [Buffer.from("tok")], 5000]);
    port.receive(bridgeIn(atom("reply"), reqId, ok, tuple(ok, 7)));
    expect(await resultOf(addon, 1)).toEqual([ok, tuple(ok, 7)]);
  });

  it("rejects with the code of Erlang's error", async () => {
    const out = { frames: [] as Buffer[], sendFrame: (p: Buffer) => out.frames.push(p), wake: () => undefined };
    const b = new Bridge(out, { exported: () => undefined }, { maxBeamCalls: 10, beamCallTimeout: 100 });
    const codes = { exception: "EEXCEPTION", no_function: "ENOFUNCTION", timeout: "ECALLTIMEOUT", overloaded: "EOVERLOADED", bad_term: "EBADTERM" };
    for (const [i, [why, code]] of Object.entries(codes).entries()) {
      const p = b.call("f", [], {});
      b.receive(encodeTerm(tuple(atom("reply"), i, error, tuple(atom(why), Buffer.from("because")))));
      await expect(p).rejects.toMatchObject({ code, message: 'beam.call("f"): because' });
    }
  });

  it("rejects at once with EOVERLOADED past max_beam_calls, sending nothing", async () => {
    const out = { frames: [] as Buffer[], sendFrame: (p: Buffer) => out.frames.push(p), wake: () => undefined };
    const b = new Bridge(out, { exported: () => undefined }, { maxBeamCalls: 2, beamCallTimeout: 100 });
    const calls = [b.call("f", [], {}), b.call("f", [], {})];
    await expect(b.call("f", [], {})).rejects.toMatchObject({ code: "EOVERLOADED" });
    expect(out.frames).toHaveLength(2);
    b.receive(encodeTerm(tuple(atom("reply"), 0, ok, 1)));
    await expect(calls[0]).resolves.toBe(1);
    const third = b.call("f", [], {}); // room again
    expect(out.frames).toHaveLength(3);
    b.stop(new ReactorError("ESTOPPING", "stopping"));
    await expect(calls[1]).rejects.toMatchObject({ code: "ESTOPPING" });
    await expect(third).rejects.toMatchObject({ code: "ESTOPPING" });
    await expect(b.call("f", [], {})).rejects.toMatchObject({ code: "ESTOPPING" });
  });

  it("throws a TypeError at the call site for args that cannot cross, naming where", () => {
    const out = { sendFrame: jest.fn(), wake: () => undefined };
    const b = new Bridge(out, { exported: () => undefined }, { maxBeamCalls: 2, beamCallTimeout: 100 });
    expect(() => b.call("f", [1, { cb: () => 1 }], {})).toThrow("args[1].cb: cannot encode a function");
    expect(() => b.send(atom("x"), Symbol("s"))).toThrow(TypeError);
    expect(() => b.send(42 as never, 1)).toThrow("beam.send: the destination");
    // Erlang's receive waits at most 2^32 - 1 ms
    expect(() => b.call("f", [], { timeout: 2 ** 32 })).toThrow("the timeout is a whole number of ms from 0 to 4294967295");
    expect(() => b.call("f", [], { timeout: -1 })).toThrow(TypeError);
    expect(out.sendFrame).not.toHaveBeenCalled();
    expect(b.inFlight).toBe(0);
  });

  it("beam.send sends {send, Dest, Term}", () => {
    const out = { frames: [] as Buffer[], sendFrame: (p: Buffer) => out.frames.push(p), wake: () => undefined };
    const b = new Bridge(out, { exported: () => undefined }, { maxBeamCalls: 2, beamCallTimeout: 100 });
    b.send("logger_proc", tuple(atom("hello"), Buffer.from([1, 2])));
    expect(out.frames[0][0]).toBe(BRIDGE_TAG);
    expect(decodeTerm(out.frames[0].subarray(1))).toEqual(tuple(atom("send"), Buffer.from("logger_proc"), tuple(atom("hello"), Buffer.from([1, 2]))));
  });

  it("frameOf is B and the tuple of its elements", () => {
    expect(frameOf([atom("a"), 1, "x"])).toEqual(Buffer.concat([Buffer.of(BRIDGE_TAG), encodeTerm(tuple(atom("a"), 1, "x"))]));
  });

  it("outside a context, beam says so", async () => {
    await expect(beam.call("x")).rejects.toThrow("beam.call() needs a context");
    expect(() => beam.self()).toThrow("beam.self() needs a context");
  });
});
