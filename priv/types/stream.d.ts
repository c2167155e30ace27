import { Server } from "net";
import { Protocol } from "./protocol";
/** Whether `v` is a stream handler: a net.Server (http.Server, https.Server
 * and tls.Server are ones). */
export declare function isStreamServer(v: unknown): v is Server;
/** What makes a connection's Protocol for a stream handler. The server is
 * told 'listening' once first, as Node tells a server before its first
 * connection: http starts its headersTimeout and requestTimeout checks on
 * it (its address() stays null: Erlang's listener has the port). A
 * 'listening' listener that throws fails the module's load. */
export declare function streamFactory(server: Server): () => Protocol;
