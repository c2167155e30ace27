// setProtocolFactory and getProtocol as a protocol module imports them. The
// loader gives each module it loads a runtime whose two functions act on its
// context's ProtocolTable; imported any other way there is no context to act on.
import type { Protocol } from "./protocol";
import type { ProtocolClass, ProtocolFactory } from "./protocol-table";

function unbound(name: string): Error {
  return new Error(`${name}() acts on the context that loads this module: call it from a protocol module or setup_code`);
}

/** Register what makes a Protocol per connection: a Protocol subclass or a function. */
export function setProtocolFactory(_f: ProtocolClass | ProtocolFactory): void {
  throw unbound("setProtocolFactory");
}

/** The Protocol instance serving an fd (Node's copy), if any. */
export function getProtocol(_fd: number): Protocol | undefined {
  throw unbound("getProtocol");
}
