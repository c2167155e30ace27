import { Server } from "net";
import { Protocol } from "./protocol";
/** Whether `v` is a stream handler: a net.Server (http.Server, https.Server
 * and tls.Server are ones). */
export declare function isStreamServer(v: unknown): v is Server;
/** What makes a connection's Protocol for a stream handler. */
export declare function streamFactory(server: Server): () => Protocol;
