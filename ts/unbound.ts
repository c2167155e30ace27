// setProtocolFactory and getProtocol as a protocol module imports them. The
// loader gives each module it loads a runtime whose two functions act on its
// context's ProtocolTable; imported any other way there is no context to act on.
import type { Protocol } from "./protocol";
import type { Socket } from "./socket";
import type { ProtocolSource } from "./protocol-table";

function unbound(name: string): Error {
  return new Error(`${name}() acts on the context that loads this module: call it from a protocol module or setup_code`);
}

/** Register what serves each connection: a Protocol subclass, a function
 * that returns a Protocol, or a stream handler (a `net.Server`, such as
 * `http.createServer(app)`: each connection is emitted as its
 * `'connection'`, a net.Socket-compatible {@link Socket}). */
export function setProtocolFactory(_f: ProtocolSource): void {
  throw unbound("setProtocolFactory");
}

/** The Protocol instance serving an fd (Node's copy), if any. */
export function getProtocol(_fd: number): Protocol | undefined {
  throw unbound("getProtocol");
}
