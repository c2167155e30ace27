import type { Protocol } from "./protocol";
import type { ProtocolClass, ProtocolFactory } from "./protocol-table";
/** Register what makes a Protocol per connection: a Protocol subclass or a function. */
export declare function setProtocolFactory(_f: ProtocolClass | ProtocolFactory): void;
/** The Protocol instance serving an fd (Node's copy), if any. */
export declare function getProtocol(_fd: number): Protocol | undefined;
