import type { Protocol } from "./protocol";
import type { ProtocolSource } from "./protocol-table";
/** Register what serves each connection: a Protocol subclass, a function
 * that returns a Protocol, or a stream handler (a `net.Server`, such as
 * `http.createServer(app)`: each connection is emitted as its
 * `'connection'`, a net.Socket-compatible {@link Socket}). */
export declare function setProtocolFactory(_f: ProtocolSource): void;
/** The Protocol instance serving an fd (Node's copy), if any. */
export declare function getProtocol(_fd: number): Protocol | undefined;
