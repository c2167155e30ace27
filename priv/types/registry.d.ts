import { Protocol } from "./protocol";
export type ProtocolClass = new () => Protocol;
export type ProtocolFactory = () => Protocol;
export declare class Registry {
    private factory;
    private readonly byFd;
    private running;
    private readonly scope;
    /** A Protocol subclass or a function that returns a Protocol. */
    setProtocolFactory(f: ProtocolClass | ProtocolFactory): void;
    get protocolFactory(): ProtocolFactory | undefined;
    /** The Protocol instance serving an fd (Node's copy), if any. */
    getProtocol(fd: number): Protocol | undefined;
    attach(fd: number, proto: Protocol): void;
    detach(fd: number, proto: Protocol): void;
    /** The connection whose callback is running now, or that started this async work. */
    currentConnection(): number | null;
    /** Runs fn as connection id's; `inherit`: what fn starts stays attributed to it. */
    runAs<T>(id: number, fn: () => T, inherit?: boolean): T;
}
