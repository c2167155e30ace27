// The TLS layer in the real engine over a fake fd, with Node's TLS client at
// the other end of it (tls-wire.ts): the client's ciphertext is what the fd
// reads, what the engine writes to the fd is what the client gets.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { Action, ClientInfo, Protocol } from "../../ts/index";
import { Reactor } from "../../ts/reactor";
import { ProtocolTable } from "../../ts/protocol-table";
import type { TlsOptions } from "../../ts/tls-config";
import { FD, ID, Wire, makeCert, received, tick, until } from "./tls-wire";
import type { Socket } from "../../ts/socket";
import { MemoryFds } from "./memory-fds";
import { RecordingSink } from "./recording-sink";

let dir: string;
let cert: TlsOptions;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "reactor-tls-test-"));
  cert = makeCert(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

class Echo extends Protocol {
  info?: ClientInfo;
  lost: (Error | undefined)[] = [];
  connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    this.info = info;
    return "read_pending";
  }
  dataReceived(d: Buffer): Action {
    if (d.toString() === "bye") return "close";
    this.writeBuffer.push(d);
    return "write_pending";
  }
  connectionLost(reason?: Error): void {
    this.lost.push(reason);
  }
}

const reactors: Reactor[] = [];
afterEach(() => reactors.splice(0).forEach((r) => r.dispose()));

function serve(P: new () => Protocol = Echo, opts: { proxy?: boolean; writeHighWater?: number; handshakeTimeout?: number } = {}) {
  const wire = new Wire();
  const protocols = new ProtocolTable();
  protocols.setProtocolFactory(P);
  const r = new Reactor(wire, wire.sink, protocols, { writeHighWater: opts.writeHighWater });
  reactors.push(r);
  wire.reactor = r;
  expect(r.addTlsConfig(4, { ...cert, alpn: ["echo/1"], handshake_timeout: opts.handshakeTimeout })).toBeUndefined();
  r.handoff(ID, FD, { type: "tcp", addr: "10.0.0.1", port: 999 }, { proxy: !!opts.proxy, tls: 4 });
  return { wire, r, protocols, proto: () => protocols.getProtocol(FD) as Echo };
}

describe("TLS layer", () => {
  it("opens after the handshake with the session in clientInfo.tls, then echoes plaintext", async () => {
    const { wire, proto } = serve();
    expect(wire.sink.acks).toEqual([[ID, "read_pending"]]); // the handshake wants input
    const c = wire.connect({ ALPNProtocols: ["echo/1"], servername: "localhost" });
    await new Promise((r) => c.once("secureConnect", r));
    await until(() => proto()?.info !== undefined, "connectionMade");
    expect(proto().info).toMatchObject({
      addr: "10.0.0.1",
      tls: { protocol: "TLSv1.3", alpn: "echo/1", sni: "localhost", authorized: false, peer_subject: null },
    });
    const got = received(c, 5);
    c.write("hello");
    expect(await got).toBe("hello");
    // the fd only ever saw ciphertext
    expect(Buffer.concat(wire.fd(FD).received).includes(Buffer.from("hello"))).toBe(false);
  });

  it("reads the PROXY header in clear first, then the handshake", async () => {
    const { wire, proto } = serve(Echo, { proxy: true });
    wire.feed(FD, "PROXY TCP4 203.0.113.7 10.0.0.1 5555 443\r\n");
    wire.poll();
    const c = wire.connect();
    await new Promise((r) => c.once("secureConnect", r));
    await until(() => proto()?.info !== undefined, "connectionMade");
    expect(proto().info).toMatchObject({ addr: "203.0.113.7", port: 5555, proxied_by: { addr: "10.0.0.1" }, tls: { protocol: "TLSv1.3" } });
  });

  it("fails a handshake with garbage, logging the peer", async () => {
    const { wire, proto } = serve();
    wire.feed(FD, "GET / HTTP/1.1\r\n\r\n");
    wire.poll();
    await until(() => wire.closed.includes(FD), "the fd closed");
    expect(wire.sink.logs).toContainEqual(["warning", ID, expect.stringMatching(/^TLS handshake with 10\.0\.0\.1:999 failed: /)]);
    expect(wire.sink.acts).toContainEqual([ID, "close"]);
    expect(proto()).toBeUndefined();
  });

  it("closes a handshake that takes too long", async () => {
    const { wire } = serve(Echo, { handshakeTimeout: 50 });
    await until(() => wire.closed.includes(FD), "the fd closed");
    expect(wire.sink.logs).toContainEqual(["warning", ID, expect.stringMatching(/TLS handshake took longer than 50 ms/)]);
  });

  it("bounds the plaintext it takes by the high-water mark when the peer does not read", async () => {
    const hw = 64 * 1024;
    class Flood extends Echo {
      dataReceived(): Action {
        this.writeBuffer.push(Buffer.alloc(1 << 20, 7));
        return "write_pending";
      }
    }
    const { wire, r, proto } = serve(Flood, { writeHighWater: hw });
    const c = wire.connect();
    await new Promise((res) => c.once("secureConnect", res));
    wire.fd(FD).room = 16384; // the kernel takes this much more, then nothing
    c.write("go");
    await until(() => (proto()?.writeBuffer.length ?? 0) > 0 && wire.armed === "write_pending", "WRITE armed");
    for (let i = 0; i < 5; i++) await tick();
    const s = r.stats();
    expect(s.tls_queued).toBeLessThanOrEqual(hw + 4096); // records add a little
    expect(s.buffered).toBeGreaterThanOrEqual((1 << 20) - hw - 4096);
    // the peer reads again: everything arrives
    wire.fd(FD).room = undefined;
    const got = received(c, 1 << 20);
    wire.poll();
    expect((await got).length).toBe(1 << 20);
  });

  // One read of ciphertext decrypts into several records, each a 'data' of
  // TLS's: none may reach the protocol while its handler's Promise is pending
  // or its reading is paused, and what waits goes up in order, with no fd
  // event to come for it (the ciphertext is all read).
  for (const how of ["a pending Promise", "pauseReading"] as const) {
    it(`holds plaintext while ${how} stops reading, then delivers it in order, the EOF last`, async () => {
      class Slow extends Protocol {
        lost: (Error | undefined)[] = [];
        busy = false;
        overlaps = 0;
        got: Buffer[] = [];
        eof = 0;
        dataReceived(d: Buffer): Action | Promise<Action> {
          if (this.busy) this.overlaps++;
          this.busy = true;
          this.got.push(Buffer.from(d));
          const done = () => (this.busy = false);
          if (how === "pauseReading") {
            this.pauseReading();
            setTimeout(() => (done(), this.resumeReading()), 1);
            return "read_pending";
          }
          return new Promise((res) => setTimeout(() => (done(), res("read_pending")), 1));
        }
        eofReceived(): boolean {
          this.eof = this.busy ? -1 : Buffer.concat(this.got).length;
          return false;
        }
        connectionLost(reason?: Error): void {
          this.lost.push(reason);
        }
      }
      const { wire, proto } = serve(Slow);
      const c = wire.connect();
      await new Promise((res) => c.once("secureConnect", res));
      const sent = Buffer.alloc(512 * 1024);
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 10)) & 0xff;
      await until(() => proto() !== undefined, "connectionMade");
      c.end(sent); // close_notify after it: TLS's end comes behind the plaintext
      await until(() => proto() !== undefined, "connectionMade");
      const p = proto() as unknown as Slow;
      await until(() => p.eof !== 0, "the EOF", 10000);
      expect(p.lost).toEqual([]);
      expect(p.overlaps).toBe(0);
      expect(p.eof).toBe(sent.length);
      expect(Buffer.concat(p.got).equals(sent)).toBe(true);
    });
  }

  it("close sends close_notify: the client sees the end, the protocol connectionLost once", async () => {
    const { wire, proto } = serve();
    const c = wire.connect();
    await new Promise((r) => c.once("secureConnect", r));
    const ended = new Promise((r) => c.once("end", r));
    c.write("bye");
    await ended;
    await until(() => wire.closed.includes(FD), "the fd closed");
    expect(wire.sink.acts).toContainEqual([ID, "close"]);
  });

  it("a close writes every queued byte a slow peer has not taken, then close_notify, then the FIN", async () => {
    class Last extends Echo {
      dataReceived(): Action {
        this.writeBuffer.push(Buffer.alloc(1 << 20, 7));
        return "close";
      }
    }
    const { wire, proto } = serve(Last, { writeHighWater: 64 * 1024 });
    const c = wire.connect();
    await new Promise((res) => c.once("secureConnect", res));
    const p = proto();
    wire.fd(FD).room = 16384; // the kernel takes this much, then nothing for now
    let got = 0;
    c.on("data", (d: Buffer) => (got += d.length));
    const ended = new Promise((res) => c.once("end", res)); // the wire never ends: only a close_notify does
    c.write("go");
    await until(() => wire.armed === "write_pending" && p.writeBuffer.length > 0, "the close waiting for the peer");
    expect(wire.shutdowns).toEqual([]);
    expect(p.lost).toEqual([]); // connectionLost once the bytes are out
    wire.fd(FD).room = undefined;
    wire.poll();
    await ended;
    expect(got).toBe(1 << 20);
    await until(() => wire.shutdowns.length > 0, "the FIN");
    expect(wire.shutdowns).toEqual([[FD, 1]]); // after the close_notify, before the fd's close
    expect(p.lost).toEqual([undefined]);
  });

  it("limits renegotiation as Node's tls.Server does (ERR_TLS_SESSION_ATTACK); connectionMade runs once", async () => {
    let made = 0;
    class Count extends Echo {
      connectionMade(fd: number, info: ClientInfo): Action {
        made++;
        return super.connectionMade(fd, info);
      }
    }
    const { wire } = serve(Count);
    const c = wire.connect({ maxVersion: "TLSv1.2" });
    await new Promise((res) => c.once("secureConnect", res));
    const renegotiated: (Error | null)[] = [];
    for (let i = 0; i <= tls.CLIENT_RENEG_LIMIT && !wire.closed.includes(FD); i++) {
      expect(c.renegotiate({}, (e) => renegotiated.push(e))).toBe(true);
      await until(() => wire.closed.includes(FD) || renegotiated.length > i, "the renegotiation's outcome");
    }
    await until(() => wire.closed.includes(FD), "the fd closed");
    expect(renegotiated.slice(0, tls.CLIENT_RENEG_LIMIT)).toEqual([null, null, null]);
    expect(wire.sink.logs).toContainEqual([
      "warning",
      ID,
      expect.stringMatching(/^TLS error from 10\.0\.0\.1:999: .*\(ERR_TLS_SESSION_ATTACK\); closing$/),
    ]);
    expect(made).toBe(1);
  });

  it("the client's close_notify ends the connection cleanly after what is queued", async () => {
    let p: Echo | undefined;
    class Keep extends Echo {
      constructor() {
        super();
        p = this; // eslint-disable-line @typescript-eslint/no-this-alias
      }
    }
    const { wire } = serve(Keep);
    const c = wire.connect();
    await new Promise((r) => c.once("secureConnect", r));
    const got = received(c, 4);
    c.end("last");
    expect(await got).toBe("last");
    await until(() => wire.closed.includes(FD), "the fd closed");
    expect(p!.lost).toEqual([undefined]);
  });

  it("refuses a handoff whose TLS configuration failed, and says why", () => {
    const wire = new Wire();
    const protocols = new ProtocolTable();
    protocols.setProtocolFactory(Echo);
    const r = new Reactor(wire, wire.sink, protocols);
    reactors.push(r);
    const err = r.addTlsConfig(2, { ...cert, certfile: path.join(dir, "missing.pem") });
    expect(err?.message).toMatch(/ENOENT/);
    r.handoff(1, 5, {}, { proxy: false, tls: 2 });
    r.handoff(2, 6, {}, { proxy: false, tls: 9 }); // never sent
    expect(wire.sink.nacks).toEqual([[1, "tls_config_failed"], [2, "tls_config_failed"]]);
    expect(wire.closed).toEqual([5, 6]);
    expect(wire.sink.logs.map((l) => l[2])).toEqual([
      expect.stringMatching(/TLS options of this connection: ENOENT/),
      "TLS options of this connection: no TLS configuration 9",
    ]);
    expect(r.size).toBe(0);
  });
});

describe("TLS with bytes read before the handoff (preread)", () => {
  it("completes a handshake whose ClientHello Erlang read first, e.g. to route on its SNI", async () => {
    const wire = new Wire();
    const protocols = new ProtocolTable();
    protocols.setProtocolFactory(Echo);
    const r = new Reactor(wire, wire.sink, protocols);
    reactors.push(r);
    wire.reactor = r;
    expect(r.addTlsConfig(4, cert)).toBeUndefined();
    const c = wire.connect({ servername: "localhost" });
    await until(() => wire.fd(FD).inbox.length > 0, "the ClientHello");
    const hello = Buffer.concat(wire.fd(FD).inbox.splice(0) as Buffer[]);
    r.handoff(ID, FD, { type: "tcp", addr: "10.0.0.1", port: 999 }, { proxy: false, tls: 4, preread: hello });
    await new Promise((res) => c.once("secureConnect", res));
    const got = received(c, 5);
    c.write("hello");
    expect(await got).toBe("hello");
    expect((protocols.getProtocol(FD) as Echo).info).toMatchObject({ tls: { sni: "localhost" } });
  });
});

describe("a stream handler's Socket over TLS", () => {
  it("answers what libraries ask of a tls.TLSSocket, with a verified client certificate", async () => {
    const sockets: Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s as unknown as Socket);
      s.on("data", (d: Buffer) => s.write(`echo:${d}`));
    });
    const wire = new Wire();
    const protocols = new ProtocolTable();
    protocols.setProtocolFactory(server);
    const r = new Reactor(wire, wire.sink, protocols, {});
    reactors.push(r);
    wire.reactor = r;
    // the self-signed certificate is its own CA: the client presents it too
    const verified = { ...cert, verify: "verify_peer" as const, cacertfile: cert.certfile, alpn: ["h2", "http/1.1"] };
    expect(r.addTlsConfig(5, verified)).toBeUndefined();
    r.handoff(ID, FD, { type: "tcp", addr: "10.0.0.1", port: 999 }, { proxy: false, tls: 5 });
    const c = wire.connect({
      ALPNProtocols: ["http/1.1"],
      servername: "localhost",
      cert: fs.readFileSync(cert.certfile),
      key: fs.readFileSync(cert.keyfile),
    });
    await new Promise((res) => c.once("secureConnect", res));
    await until(() => sockets.length === 1, "the 'connection'");
    const s = sockets[0];
    expect([s.encrypted, s.authorized, s.alpnProtocol, s.servername, s.getProtocol()]).toEqual([
      true,
      true,
      "http/1.1",
      "localhost",
      "TLSv1.3",
    ]);
    expect(s.getPeerCertificate()?.subject.CN).toBe("localhost");
    expect(s.getCipher()?.name).toMatch(/^TLS_/);
    expect(s.remoteAddress).toBe("10.0.0.1");
    const got = received(c, 9);
    c.write("hello");
    expect(await got).toBe("echo:hello");
    expect(s.bytesRead).toBe(5); // plaintext
  });
});
