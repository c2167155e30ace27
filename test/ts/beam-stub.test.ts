// erlang-reactor/testing's stubBeam(): a protocol that calls the BEAM,
// driven in the harness with `beam` answered by TypeScript functions.
import { Action, Protocol, beam } from "../../ts/index";
import { Pid, Tuple, atom, tuple, utf8 } from "../../ts/term";
import { BeamStub, connect, stubBeam } from "../../ts/testing";

/** "login <token>\n" -> asks Erlang's auth.check, answers "ok <user>\n" or "denied\n". */
class Login extends Protocol {
  async dataReceived(data: Buffer): Promise<Action> {
    const token = data.toString().trim().split(" ")[1];
    try {
      const r = await beam.call("auth.check", token);
      if (r instanceof Tuple && r.elements[0] === atom("ok")) {
        this.writeBuffer.push(`ok ${utf8(r.elements[1] as Buffer)}\n`);
        beam.send("audit", tuple(atom("login"), r.elements[1]));
      } else this.writeBuffer.push("denied\n");
    } catch (e) {
      this.writeBuffer.push(`error ${(e as { code?: string }).code}\n`);
    }
    return "write_pending";
  }
}

let stub: BeamStub;
afterEach(() => stub.restore());

describe("stubBeam", () => {
  it("answers beam.call from the protocol with the stub's function, args as Erlang would see them", async () => {
    stub = stubBeam({ "auth.check": (tok) => (utf8(tok as Buffer) === "s3cret" ? tuple(atom("ok"), "alice") : atom("error")) });
    const h = connect(Login);
    h.feed("login s3cret\n");
    await h.settle();
    expect(h.take()).toBe("ok alice\n");
    expect(stub.calls).toEqual([{ name: "auth.check", args: [Buffer.from("s3cret")] }]);
    expect(stub.sent).toEqual([{ dest: "audit", message: tuple(atom("login"), Buffer.from("alice")) }]);
    h.feed("login nope\n");
    await h.settle();
    expect(h.take()).toBe("denied\n");
  });

  it("rejects as beam.call does: ENOFUNCTION, EEXCEPTION, EBADTERM", async () => {
    stub = stubBeam({ boom: () => { throw new Error("bad"); }, fn: () => () => 1 });
    await expect(beam.call("none")).rejects.toMatchObject({ code: "ENOFUNCTION", message: 'beam.call("none"): no function is registered as "none"' });
    await expect(beam.call("boom")).rejects.toMatchObject({ code: "EEXCEPTION", message: 'beam.call("boom"): Error: bad' });
    await expect(beam.call("fn")).rejects.toMatchObject({ code: "EBADTERM" });
    const h = connect(Login);
    h.feed("login x\n");
    await h.settle();
    expect(h.take()).toBe("error ENOFUNCTION\n");
  });

  it("throws at the call site for args that cannot cross, as the bridge does", () => {
    stub = stubBeam({ f: () => 1 });
    expect(() => beam.call("f", { cb: () => 1 })).toThrow("args[0].cb: cannot encode a function"); // the bridge's words
    expect(() => beam.apply("f", [], { timeout: 2 ** 32 })).toThrow("the timeout is a whole number of ms from 0 to 4294967295");
    expect(() => beam.send(42 as never, 1)).toThrow("beam.send: the destination");
    expect(stub.calls).toEqual([]);
  });

  it("gives beam.self() a pid, records beam.apply's timeout, and define() adds functions", async () => {
    stub = stubBeam().define("twice", (x) => 2 * (x as number));
    expect(beam.self()).toBeInstanceOf(Pid);
    expect(beam.self().node).toBe(atom("stub@test"));
    await expect(beam.apply("twice", [21], { timeout: 50 })).resolves.toBe(42);
    expect(stub.calls).toEqual([{ name: "twice", args: [21], timeout: 50 }]);
  });

  it("restore() puts back what was there: outside a context, beam says so", async () => {
    stubBeam().restore();
    await expect(beam.call("x")).rejects.toThrow("needs a context");
    stub = stubBeam();
  });
});
