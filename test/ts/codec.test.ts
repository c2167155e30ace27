import * as erlpack from "erlpack";
import { CodecError, decode, encode } from "../../ts/codec";

// Erlang's term_to_binary of the messages a context sends, as erlpack would read
// them: tuples are arrays. We build them with erlpack itself (arrays).
const etf = (t: unknown) => erlpack.pack(t as never);

describe("codec", () => {
  it("decodes every message Erlang sends", () => {
    expect(decode(etf(["handoff", 7, { addr: "127.0.0.1", port: 80, type: "tcp" }, { proxy: true, tls: 2 }]))).toEqual({
      type: "handoff",
      id: 7,
      info: { addr: "127.0.0.1", port: 80, type: "tcp" },
      transport: { proxy: true, tls: 2 },
    });
    expect(decode(etf(["handoff", 8, {}, { proxy: false, tls: false, starttls: 3 }]))).toMatchObject({
      transport: { proxy: false, tls: false, starttls: 3 },
    });
    // verify and fail_if_no_peer_cert: reactor_tls:options/1 always fills them in
    const tls = { certfile: "/c", keyfile: "/k", verify: "verify_none", fail_if_no_peer_cert: true };
    expect(decode(etf(["tls_config", 2, tls]))).toMatchObject({
      type: "tls_config",
      key: 2,
      options: { certfile: "/c", keyfile: "/k", verify: "verify_none" },
    });
    expect(decode(etf(["close", 9, "bye"]))).toEqual({ type: "close", id: 9, reason: "bye" });
    expect(decode(etf(["stats"]))).toEqual({ type: "stats" });
    expect(decode(etf(["stop"]))).toEqual({ type: "stop" });
    const init = decode(etf(["init", { channel: "/tmp/x", protocol: "/p.ts", setup_code: "", context: "c", read_size: 4096 }]));
    expect(init).toEqual({
      type: "init",
      config: {
        channel: "/tmp/x",
        protocol: "/p.ts",
        setupCode: "",
        context: "c",
        readSize: 4096,
        writeHighWater: 1 << 20,
        callbackTimeout: 0,
        idleTimeout: 0,
        closeTimeout: 30000,
        lingerTimeout: 1000,
        lingerMaxBytes: 64 << 20,
        maxQueuedMessages: 1000,
        typecheck: false,
        telemetry: false,
        maxBeamCalls: 1024,
        beamCallTimeout: 5000,
      },
    });
    // the bridge's: the context's pid as term_to_binary's bytes in base64 (beam.self())
    const pid = Buffer.from([131, 88, 119, 13, ...Buffer.from("nonode@nohost"), 0, 0, 0, 83, 0, 0, 0, 0, 0, 0, 0, 0]);
    const bridged = decode(etf(["init", { channel: "/tmp/x", max_beam_calls: 8, beam_call_timeout: 0, self: pid.toString("base64") }]));
    expect(bridged.type === "init" && bridged.config).toMatchObject({ maxBeamCalls: 8, beamCallTimeout: 0 });
    expect(bridged.type === "init" && bridged.config.self?.toString()).toBe("<nonode@nohost.83.0>");
    // what is not a pid is none; a bound of 0 calls is the default's
    const odd = decode(etf(["init", { channel: "/tmp/x", max_beam_calls: 0, self: Buffer.from([131, 97, 1]).toString("base64") }]));
    expect(odd.type === "init" && odd.config).toMatchObject({ maxBeamCalls: 1024, self: undefined });
    expect(decode(etf(["reload", 3, { protocol: "/q.ts", setup_code: "", typecheck: true }]))).toEqual({
      type: "reload",
      ref: 3,
      protocol: "/q.ts",
      setupCode: "",
      typecheck: true,
    });
    expect(decode(etf(["connections"]))).toEqual({ type: "connections" });
  });

  it("rejects malformed messages with a clear error", () => {
    const bad: unknown[] = [
      ["reload", -1, {}],
      ["reload", 1, "x"],
      ["connections", 1],
      ["ready", [1, 2], [3]], // ready connections come in batches now (batch.ts)
      ["handoff", 1.5, {}, { proxy: false, tls: false }],
      ["handoff", 1, [], { proxy: false, tls: false }],
      ["handoff", 1, {}],
      ["handoff", 1, {}, { proxy: "yes", tls: false }],
      ["handoff", 1, {}, { proxy: false, tls: -1 }],
      ["handoff", 1, {}, { proxy: false, tls: true }],
      ["handoff", 1, {}, { proxy: false, tls: false, starttls: true }],
      ["handoff", 1, { preread: "not base64!" }, { proxy: false, tls: false }],
      ["handoff", 1, { preread: 42 }, { proxy: false, tls: false }],
      ["tls_config", 1, { certfile: "/c" }],
      ["tls_config", 1, { certfile: "/c", keyfile: "/k" }], // no verify, no fail_if_no_peer_cert
      ["tls_config", 1, { certfile: "/c", keyfile: "/k", verify: "yes", fail_if_no_peer_cert: true }],
      ["tls_config", 1, { certfile: "/c", keyfile: "/k", verify: "verify_peer", fail_if_no_peer_cert: "no" }],
      ["tls_config", -1, { certfile: "/c", keyfile: "/k" }],
      ["close"],
      ["nonsense", 1],
      42,
      ["init", { channel: 5 }],
      ["init", { channel: "/x", read_size: 0 }],
    ];
    for (const b of bad) expect(() => decode(etf(b))).toThrow(CodecError);
    expect(() => decode(Buffer.from([131, 255, 0]))).toThrow(/undecodable|malformed/);
    expect(() => decode(Buffer.from("garbage"))).toThrow(CodecError);
  });

  // `make fuzz` sets FUZZ_CASES much higher.
  const cases = Number(process.env.FUZZ_CASES ?? 5000);
  it(`survives ${cases} seeded random and mutated frames`, () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const good = [etf(["close", 3, "x"]), etf(["handoff", 1, { a: "b" }, { proxy: true, tls: 1 }]), etf(["stats"])];
    let errors = 0;
    for (let i = 0; i < cases; i++) {
      const base = Buffer.from(good[i % good.length]);
      const f = i % 2 ? Buffer.from(Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256))) : base;
      for (let k = 0; k < 3; k++) f[Math.floor(rnd() * f.length)] = Math.floor(rnd() * 256);
      try {
        decode(f);
      } catch (e) {
        expect(e).toBeInstanceOf(CodecError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(cases / 5);
  });

  it("encodes answers as lists Erlang can read", () => {
    const b = encode(["nack", 1, "fd_missing"]);
    expect(erlpack.unpack(b)).toEqual(["nack", 1, "fd_missing"]);
  });
});
