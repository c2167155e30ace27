// STARTTLS in the real engine over a fake fd: a line protocol in clear, then
// Protocol.startTls() and Node's TLS client over the same fd (tls-wire.ts).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createServer } from "net";
import { Action, Protocol, ReactorError, Socket, TlsInfo } from "../../ts/index";
import { Reactor } from "../../ts/reactor";
import { ProtocolTable } from "../../ts/protocol-table";
import type { TlsOptions } from "../../ts/tls-config";
import type { TransportSpec } from "../../ts/types";
import { FD, ID, Wire, makeCert, received, tick, until } from "./tls-wire";

let dir: string;
let cert: TlsOptions;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "reactor-starttls-test-"));
  cert = makeCert(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** SMTP's shape: lines; STARTTLS answers 220 in clear and starts TLS, dropping
 * whatever it holds of the client's input (RFC 3207 §4); any other line is
 * answered "250 <line>", saying whether it came over TLS. */
class Lines extends Protocol {
  static last: Lines;
  buf = "";
  seen: string[] = [];
  dropped: string[] = [];
  lost: (Error | undefined)[] = [];
  secure?: Promise<TlsInfo>;
  outcome?: TlsInfo | Error;
  constructor() {
    super();
    Lines.last = this; // eslint-disable-line @typescript-eslint/no-this-alias
  }
  dataReceived(d: Buffer): Action | Promise<Action> {
    this.buf += d.toString();
    for (let i = this.buf.indexOf("\r\n"); i >= 0; i = this.buf.indexOf("\r\n")) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      this.seen.push(line);
      if (line === "STARTTLS") return this.starttls();
      this.write(`250 ${line}${this.clientInfo.tls ? " (tls)" : ""}\r\n`);
    }
    return "read_pending";
  }
  starttls(): Action | Promise<Action> {
    this.write("220 go ahead\r\n");
    if (this.buf) this.dropped.push(this.buf); // sent in clear before the handshake: never taken
    this.buf = "";
    this.secure = this.startTls();
    this.secure.then(
      (info) => (this.outcome = info),
      (e: Error) => (this.outcome = e),
    );
    return "read_pending";
  }
  connectionLost(reason?: Error): void {
    this.lost.push(reason);
  }
}

const reactors: Reactor[] = [];
afterEach(() =>
  reactors.splice(0).forEach((r) => {
    r.closeAll(new Error("the test is over")); // no handshake timer outlives its test
    r.dispose();
  }),
);

function serve(
  P: (new () => Protocol) | ReturnType<typeof createServer> = Lines,
  opts: { spec?: Partial<TransportSpec>; handshakeTimeout?: number; addConfig?: boolean } = {},
) {
  const wire = new Wire();
  const protocols = new ProtocolTable();
  protocols.setProtocolFactory(P as never);
  const r = new Reactor(wire, wire.sink, protocols);
  reactors.push(r);
  wire.reactor = r;
  if (opts.addConfig !== false) expect(r.addTlsConfig(7, { ...cert, handshake_timeout: opts.handshakeTimeout })).toBeUndefined();
  r.handoff(ID, FD, { type: "tcp", addr: "10.0.0.2", port: 2525 }, { proxy: false, tls: false, starttls: 7, ...opts.spec });
  return { wire, r, proto: () => Lines.last };
}

/** The client's plaintext, then what it read back so far. */
async function say(wire: Wire, text: string, until_: string): Promise<string> {
  wire.feed(FD, text);
  wire.poll();
  await until(() => wire.written(FD).includes(until_), JSON.stringify(until_));
  return wire.written(FD);
}

describe("STARTTLS", () => {
  it("answers in clear, then handshakes; the session is in clientInfo.tls and the Promise's", async () => {
    const { wire, proto } = serve();
    expect(wire.sink.acks).toEqual([[ID, "read_pending"]]); // open at once: plaintext first
    expect(await say(wire, "EHLO x\r\n", "250 EHLO x\r\n")).toBe("250 EHLO x\r\n");
    await say(wire, "STARTTLS\r\n", "220 go ahead\r\n");
    const clear = wire.written(FD).length;
    const c = wire.connect({ servername: "localhost" });
    await new Promise((r) => c.once("secureConnect", r));
    await until(() => proto().outcome !== undefined, "the Promise settled");
    expect(proto().outcome).toMatchObject({ protocol: "TLSv1.3", sni: "localhost" });
    expect(proto().clientInfo.tls).toEqual(proto().outcome);
    const got = received(c, "250 NOOP (tls)\r\n".length);
    c.write("NOOP\r\n");
    expect(await got).toBe("250 NOOP (tls)\r\n");
    // after the 220, the fd carried TLS records only
    expect(wire.written(FD).slice(clear)).not.toContain("250");
    expect(proto().seen).toEqual(["EHLO x", "STARTTLS", "NOOP"]);
  });

  it("writes what the kernel did not take before startTls in clear, before any TLS record", async () => {
    const { wire, proto } = serve();
    wire.fd(FD).room = 5; // "220 g", then nothing for now
    wire.feed(FD, "STARTTLS\r\n");
    wire.poll();
    await until(() => wire.armed === "write_pending", "WRITE armed for the rest of the 220");
    expect(wire.written(FD)).toBe("220 g");
    expect(proto().writeBuffer.length).toBe(0); // taken by the layer: TLS never encrypts it
    wire.fd(FD).room = undefined;
    wire.poll();
    await until(() => wire.written(FD) === "220 go ahead\r\n", "the rest of the 220 in clear");
    const c = wire.connect();
    await new Promise((r) => c.once("secureConnect", r));
    const got = received(c, 13);
    c.write("HELO secure\r\n");
    expect(await got).toBe("250 HELO secure (tls)\r\n");
  });

  it("never feeds TLS what came in clear with the command: pipelined input is the protocol's to drop", async () => {
    const { wire, proto } = serve();
    await say(wire, "STARTTLS\r\nRCPT TO:<injected>\r\n", "220 go ahead\r\n");
    expect(proto().dropped).toEqual(["RCPT TO:<injected>\r\n"]);
    const c = wire.connect();
    await new Promise((r) => c.once("secureConnect", r)); // the handshake saw none of it
    const got = received(c, "250 NOOP (tls)\r\n".length);
    c.write("NOOP\r\n");
    expect(await got).toBe("250 NOOP (tls)\r\n");
    expect(proto().seen).toEqual(["STARTTLS", "NOOP"]);
  });

  it("plaintext where the ClientHello should be fails the handshake: that connection ends with the reason", async () => {
    const { wire, proto } = serve();
    await say(wire, "STARTTLS\r\n", "220");
    wire.feed(FD, "RCPT TO:<injected>\r\n");
    wire.poll();
    await until(() => wire.closed.includes(FD), "the fd closed");
    expect(proto().seen).toEqual(["STARTTLS"]);
    expect(proto().lost).toHaveLength(1);
    expect(proto().lost[0]).toBe(proto().outcome); // connectionLost's reason is the Promise's
    expect((proto().lost[0] as NodeJS.ErrnoException).code).toMatch(/^ERR_SSL_/);
    expect(wire.sink.logs).toContainEqual(["warning", ID, expect.stringMatching(/^STARTTLS handshake with 10\.0\.0\.2:2525 failed: /)]);
    expect(wire.sink.acts).toContainEqual([ID, "close"]);
  });

  it("a handshake that takes too long ends the connection (EHANDSHAKETIMEOUT)", async () => {
    const { wire, proto } = serve(Lines, { handshakeTimeout: 50 });
    await say(wire, "STARTTLS\r\n", "220");
    await until(() => wire.closed.includes(FD), "the fd closed");
    expect(proto().lost).toEqual([expect.objectContaining({ code: "EHANDSHAKETIMEOUT" })]);
  });

  it("a peer that leaves during the handshake: ECONNRESET, the Promise rejects with it", async () => {
    const { wire, proto } = serve();
    await say(wire, "STARTTLS\r\n", "220");
    wire.feed(FD, "eof");
    wire.poll();
    await until(() => wire.closed.includes(FD), "the fd closed");
    await tick();
    expect(proto().lost).toEqual([expect.objectContaining({ code: "ECONNRESET" })]);
    expect(proto().outcome).toBe(proto().lost[0]);
  });

  it("refuses a second startTls (ETLSACTIVE), one under the listener's tls (ETLSACTIVE), one without a set (ENOSTARTTLS)", async () => {
    const errors: string[] = [];
    class Twice extends Lines {
      starttls(): Action {
        this.write("220 go ahead\r\n");
        for (let i = 0; i < 2; i++) {
          try {
            this.startTls();
          } catch (e) {
            expect(e).toBeInstanceOf(ReactorError);
            errors.push((e as ReactorError).code);
          }
        }
        return "read_pending";
      }
    }
    const { wire } = serve(Twice);
    await say(wire, "STARTTLS\r\n", "220");
    expect(errors).toEqual(["ETLSACTIVE"]);
    const implicit = serve(Twice, { spec: { tls: 7, starttls: undefined } });
    const c = implicit.wire.connect();
    await new Promise((r) => c.once("secureConnect", r));
    const got = received(c, 14);
    c.write("STARTTLS\r\n");
    expect(await got).toBe("220 go ahead\r\n");
    expect(errors).toEqual(["ETLSACTIVE", "ETLSACTIVE", "ETLSACTIVE"]);
    const plain = serve(Twice, { addConfig: false, spec: { starttls: undefined } });
    await say(plain.wire, "STARTTLS\r\n", "220");
    expect(errors.slice(3)).toEqual(["ENOSTARTTLS", "ENOSTARTTLS"]);
    // the connection without one goes on in clear
    expect(await say(plain.wire, "NOOP\r\n", "250 NOOP\r\n")).toBe("220 go ahead\r\n250 NOOP\r\n");
  });

  it("a handler may await the handshake: it runs while the handler is pending, what came over TLS waits", async () => {
    let order: string[] = [];
    class Awaits extends Lines {
      async starttls(): Promise<Action> {
        super.starttls();
        const info = await this.secure!;
        order.push(`secure ${info.protocol}`);
        await new Promise((r) => setTimeout(r, 30)); // still pending while data arrives
        order.push("handler done");
        return "read_pending";
      }
      dataReceived(d: Buffer): Action | Promise<Action> {
        if (this.clientInfo.tls) order.push(`data ${d.toString().trim()}`);
        return super.dataReceived(d);
      }
    }
    const { wire } = serve(Awaits);
    await say(wire, "STARTTLS\r\n", "220");
    order = [];
    const c = wire.connect();
    c.write("NOOP\r\n"); // sent with the client's Finished: it arrives before the handler is done
    const got = received(c, "250 NOOP (tls)\r\n".length);
    expect(await got).toBe("250 NOOP (tls)\r\n");
    expect(order).toEqual(["secure TLSv1.3", "handler done", "data NOOP"]);
  });
});

describe("STARTTLS on a stream (Socket.startTls)", () => {
  it("a net.Server's socket answers in clear, starts TLS, emits 'secure', then reads and writes over TLS", async () => {
    let socket: Socket | undefined;
    let secured = 0;
    const server = createServer((s) => {
      socket = s as unknown as Socket;
      socket.on("secure", () => secured++);
      let buf = "";
      s.on("data", (d: Buffer) => {
        buf += d.toString();
        for (let i = buf.indexOf("\r\n"); i >= 0; i = buf.indexOf("\r\n")) {
          const line = buf.slice(0, i);
          buf = "";
          if (line === "STARTTLS") {
            s.write("220 go ahead\r\n");
            void socket!.startTls();
            return;
          }
          s.write(`250 ${line}${(s as unknown as Socket).encrypted ? " (tls)" : ""}\r\n`);
        }
      });
    });
    const { wire } = serve(server);
    expect(await say(wire, "EHLO x\r\n", "250 EHLO x\r\n")).toBe("250 EHLO x\r\n");
    await say(wire, "STARTTLS\r\n", "220 go ahead\r\n");
    expect(socket!.encrypted).toBeUndefined();
    const c = wire.connect({ servername: "localhost" });
    await new Promise((r) => c.once("secureConnect", r));
    await until(() => secured === 1, "'secure' emitted");
    expect(socket!.encrypted).toBe(true);
    expect(socket!.servername).toBe("localhost");
    const got = received(c, "250 NOOP (tls)\r\n".length);
    c.write("NOOP\r\n");
    expect(await got).toBe("250 NOOP (tls)\r\n");
  });
});
