import { Server } from "net";
import { Protocol } from "./protocol";
import { Socket } from "./socket";
/** Whether `v` is a stream handler: a net.Server (http.Server, https.Server
 * and tls.Server are ones). */
export declare function isStreamServer(v: unknown): v is Server;
/** What makes a connection's Protocol for a stream handler. The server is
 * told 'listening' once first, as Node tells a server before its first
 * connection: http starts its headersTimeout and requestTimeout checks on
 * it (its address() stays null: Erlang's listener has the port). A
 * 'listening' listener that throws fails the module's load. */
export declare function streamFactory(server: Server): () => Protocol;
/**
 * The connection behind a stream handler's Socket: what the bridge gives a
 * Protocol, for a Socket's code (`connectionOf(socket).join("room")`, its
 * `ref` for Erlang's `reactor:send/2`, `startTls()`). What Erlang sends it
 * (`reactor:send/2` to that ref, a publish to a group it joined) is the
 * Socket's `'message'` event, the term as the bridge decodes it.
 * @throws TypeError for a socket no stream handler of this runtime made.
 */
export declare function connectionOf(socket: Socket): Protocol;
