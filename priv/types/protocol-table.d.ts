import type { Server } from "net";
import { Protocol } from "./protocol";
export type ProtocolClass = new () => Protocol;
export type ProtocolFactory = () => Protocol;
/** A reloaded protocol's offer to adopt a live connection from the old
 * code: the Protocol to continue with, or undefined to let it finish on the old. */
export type AdoptHook = (old: Protocol) => Protocol | undefined | void;
/** What a module loads: the factory, the adopt hook its class may have, and
 * the functions it exports (with its setup code's), which Erlang may call by
 * name (reactor_context:call/4; bridge.ts). */
export interface LoadedProtocol {
    factory: ProtocolFactory;
    adopt?: AdoptHook;
    exports?: Readonly<Record<string, unknown>>;
}
/** What a module may give as its protocol: a Protocol subclass, a function
 * that returns a Protocol, or a stream handler (a net.Server such as
 * `http.createServer(app)`: each connection is its 'connection', stream.ts). */
export type ProtocolSource = ProtocolClass | ProtocolFactory | Server;
/** A Protocol subclass, a function that returns a Protocol or a stream
 * handler, as a factory. */
export declare function toLoaded(f: ProtocolSource): LoadedProtocol;
/** One engine's protocols: the factory, the Protocol serving each fd, the running connection. */
export declare class ProtocolTable {
    private loaded;
    private readonly byFd;
    private running;
    private readonly scope;
    /** A Protocol subclass, a function that returns a Protocol, or a stream handler (a net.Server). */
    setProtocolFactory(f: ProtocolSource): void;
    /** What new connections get from now on (a load or a reload). */
    install(loaded: LoadedProtocol): void;
    get protocolFactory(): ProtocolFactory | undefined;
    /** The function the loaded code exports as `name` (its own property, not
     * inherited); never the default export, which is the protocol. */
    exported(name: string): ((...args: unknown[]) => unknown) | undefined;
    /** The Protocol instance serving an fd (Node's copy), if any. */
    getProtocol(fd: number): Protocol | undefined;
    attach(fd: number, proto: Protocol): void;
    detach(fd: number, proto: Protocol): void;
    /** The connection whose callback is running now, or that started this async work. */
    currentConnection(): number | null;
    /** Runs fn as connection id's; `inherit`: what fn starts stays attributed to it. */
    runAs<T>(id: number, fn: () => T, inherit?: boolean): T;
}
