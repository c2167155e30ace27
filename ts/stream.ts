// Stream handlers: a protocol module that exports a `net.Server` (Node's
// `net.createServer(listener)`, `http.createServer(app)`, ...) serves each
// connection as a Socket (socket.ts) emitted as that server's 'connection',
// as Node's net emits it for a connection it accepted. Erlang's listener is
// the server's listen(): the server itself never listens. The Protocol here
// is the thin layer between the engine's callbacks and the Socket.
import { Server } from "net";
import type { ClientInfo } from "./types";
import { Protocol, kOwnAsync, type Action } from "./protocol";
import type { Term } from "./term-types";
import { Socket, kDrained, kEnded, kLost, kProtocol, kReceived } from "./socket";

/** The options of a net.Server that Node's net hands to each socket it
 * accepts (net.js onconnection), as they are set on the server object. */
interface ServerOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** seconds, as net.Server keeps it */
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
  /** net.Server's count of its connections (getConnections) */
  _connections?: number;
}

/** Whether `v` is a stream handler: a net.Server (http.Server, https.Server
 * and tls.Server are ones). */
export function isStreamServer(v: unknown): v is Server {
  return v instanceof Server;
}

/** Servers told 'listening' already (a module loaded twice is one server). */
const told = new WeakSet<Server>();

/** What makes a connection's Protocol for a stream handler. The server is
 * told 'listening' once first, as Node tells a server before its first
 * connection: http starts its headersTimeout and requestTimeout checks on
 * it (its address() stays null: Erlang's listener has the port). A
 * 'listening' listener that throws fails the module's load. */
export function streamFactory(server: Server): () => Protocol {
  if (!told.has(server) && !server.listening) {
    told.add(server);
    server.emit("listening");
  }
  return () => new StreamProtocol(server);
}

/**
 * The connection behind a stream handler's Socket: what the bridge gives a
 * Protocol, for a Socket's code (`connectionOf(socket).join("room")`, its
 * `ref` for Erlang's `reactor:send/2`, `startTls()`). What Erlang sends it
 * (`reactor:send/2` to that ref, a publish to a group it joined) is the
 * Socket's `'message'` event, the term as the bridge decodes it.
 * @throws TypeError for a socket no stream handler of this runtime made.
 */
export function connectionOf(socket: Socket): Protocol {
  if (!(socket instanceof Socket)) throw new TypeError("connectionOf: not a Socket of a stream handler");
  return socket[kProtocol];
}

/** One connection of a stream handler: its Socket, fed by the engine. */
class StreamProtocol extends Protocol {
  private socket: Socket | undefined;

  constructor(private readonly server: Server) {
    super();
  }

  /** The Socket is made and emitted as the server's 'connection', with the
   * server's options applied as net applies them. A listener that throws
   * ends this connection with its error. */
  connectionMade(fd: number, clientInfo: ClientInfo): Action | void {
    super.connectionMade(fd, clientInfo);
    const opts = this.server as ServerOptions;
    const socket = new Socket(this, {
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: opts.highWaterMark,
      writableHighWaterMark: opts.highWaterMark,
      pauseOnCreate: opts.pauseOnConnect,
    });
    this.socket = socket;
    if (opts.noDelay) this.setNoDelay(true);
    if (opts.keepAlive) this.setKeepAlive(true, (opts.keepAliveInitialDelay ?? 0) * 1000);
    socket.server = socket._server = this.server;
    opts._connections = (opts._connections ?? 0) + 1;
    socket.once("close", () => {
      opts._connections = Math.max(0, (opts._connections ?? 1) - 1);
    });
    this.server.emit("connection", socket);
  }

  /** A Node server starts async work of its own on every request (ticks,
   * timers): following a connection into it would cost Node < 24 an async
   * hook for each (docs/streams.md, "Errors"). */
  readonly [kOwnAsync] = true;

  dataReceived(data: Buffer): Action {
    this.socket?.[kReceived](data);
    return "continue";
  }

  /** The Socket ends the connection (end(), or its allowHalfOpen's), not the engine. */
  eofReceived(): boolean {
    this.socket?.[kEnded]();
    return false;
  }

  writeReady(): Action {
    this.flush();
    if (this.writeBuffer.length === 0) this.socket?.[kDrained]();
    return this.writeBuffer.length > 0 ? "continue" : "read_pending";
  }

  connectionLost(reason?: Error): void {
    this.socket?.[kLost](reason);
  }

  /** The Socket's 'message' event; with no listener, dropped as a Protocol
   * that does not take messages drops them. */
  messageReceived(term: Term): Action {
    if (!this.socket || this.socket.listenerCount("message") === 0) return super.messageReceived(term) as Action;
    this.socket.emit("message", term);
    return "continue";
  }
}
