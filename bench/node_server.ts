// Plain Node.js peers for the benchmark, running the same protocol logic:
//   node node_server.js net  PORT echo|http|resp   the examples' Protocol classes over `net`
//   node node_server.js net  PORT ws               examples/ws-chat/chat.ts, the http.Server
//                                                  (with ws) the reactor serves, on `net`
//   node node_server.js http PORT             Node's own `http` module, the same answer
//                                             (bench/http_stream.ts: the server the reactor's
//                                             stream scenarios load too)
// Then commands on stdin, as bench_servers.erl takes them (make bench-scale):
//   close   destroy every connection: "CLOSED us=T" once the last has closed
//   mem     "MEM heap=H beam=0": the heap in use (bytes, after a full GC when
//           run with --expose-gc)
import * as esbuild from "esbuild";
import * as http from "http";
import Module from "module";
import * as net from "net";
import { dirname, join } from "path";
import type { Action, Protocol } from "../ts/protocol";
import { bind } from "../ts/protocol";
import Echo from "../examples/echo";
import Http from "../examples/http";
import Resp from "../examples/resp";
import httpServer from "./http_stream";

const open = new Set<net.Socket>();

function serveProtocol(port: number, P: new () => Protocol): void {
  const server = net.createServer({ noDelay: true }, (sock) => {
    open.add(sock);
    const p = new P();
    let ended = false;
    // Node's sockets buffer internally: every write is taken whole.
    bind(p, {
      read: () => null,
      writev: (bufs) => {
        let n = 0;
        for (const b of bufs) {
          sock.write(b);
          n += b.length;
        }
        return n;
      },
      sendTo: () => 0, // streams only
      shutdownWrite: () => sock.end(),
      close: () => sock.destroy(),
    });
    p.connectionMade(-1, { addr: sock.remoteAddress, port: sock.remotePort, type: "tcp" });
    const act = (a: Action | Promise<Action>): void => {
      if (typeof a !== "string") {
        void a.then(act);
        return;
      }
      if (a === "close") {
        ended = true;
        sock.end();
      } else if (a === "write_pending") {
        sock.cork();
        const next = p.writeReady();
        process.nextTick(() => sock.uncork());
        act(next);
      }
    };
    sock.on("data", (d) => ended || act(p.dataReceived(d)));
    sock.on("error", () => sock.destroy());
    sock.on("close", () => {
      open.delete(sock);
      p.connectionLost();
      if (open.size === 0) allClosed();
    });
  });
  server.listen(port, "127.0.0.1", () => ready(server));
}

// set by "close" until the last connection has closed
let closeStarted: bigint | undefined;

function allClosed(): void {
  if (closeStarted === undefined) return;
  console.log(`CLOSED us=${(process.hrtime.bigint() - closeStarted) / 1000n}`);
  closeStarted = undefined;
}

function control(line: string): void {
  if (line === "close") {
    closeStarted = process.hrtime.bigint();
    if (open.size === 0) allClosed();
    for (const s of open) s.destroy();
  } else if (line === "mem") {
    (globalThis as { gc?: () => void }).gc?.();
    console.log(`MEM heap=${process.memoryUsage().heapUsed} beam=0`);
  }
}

function ready(server: net.Server | http.Server): void {
  console.log(`READY port=${(server.address() as net.AddressInfo).port}`);
}

function serveHttp(port: number): void {
  httpServer.listen(port, "127.0.0.1", () => ready(httpServer));
}

/** A module that exports a net.Server (a stream handler), compiled and
 * loaded as erlang-reactor's loader does (esbuild; its npm packages from its
 * own node_modules), listening on Node's own net. */
function serveModule(port: number, file: string): void {
  const built = esbuild.buildSync({
    entryPoints: [file],
    bundle: true,
    write: false,
    platform: "node",
    format: "cjs",
    target: "node18",
    packages: "external",
  });
  const m = new Module(file);
  m.filename = file;
  // @ts-expect-error -- internal but stable: the lookup paths require() walks
  m.paths = Module._nodeModulePaths(dirname(file));
  // @ts-expect-error -- internal but stable: compiles and runs CommonJS source
  m._compile(built.outputFiles[0].text, file);
  const server = (m.exports as { default: net.Server }).default;
  server.listen(port, "127.0.0.1", () => ready(server));
}

let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d: string) => {
  pending += d;
  for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
    control(pending.slice(0, nl).trim());
    pending = pending.slice(nl + 1);
  }
});

const [kind, portArg, proto] = process.argv.slice(2);
const port = Number(portArg);
// bench/build/node_server.js: the examples are two directories up
const examples = join(__dirname, "..", "..", "examples");
if (kind === "http") serveHttp(port);
else if (proto === "ws") serveModule(port, join(examples, "ws-chat", "chat.ts"));
else serveProtocol(port, proto === "http" ? Http : proto === "resp" ? Resp : Echo);
