// The protocol table, one per engine: what makes a Protocol for each
// connection, the Protocol serving each fd, and the connection whose callback
// is running (for log attribution).
// An object, not module state: the engine is given one, the loader fills it,
// and a test can make as many as it likes.
import { AsyncLocalStorage } from "async_hooks";
import type { Server } from "net";
import { Protocol } from "./protocol";
import { isStreamServer, streamFactory } from "./stream";

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
export function toLoaded(f: ProtocolSource): LoadedProtocol {
  if (isStreamServer(f)) return { factory: streamFactory(f) };
  if (typeof f !== "function")
    throw new TypeError("setProtocolFactory takes a Protocol class, a factory function or a net.Server (a stream handler)");
  if (!(f.prototype instanceof Protocol)) return { factory: f as ProtocolFactory };
  const adopt = (f as unknown as { adopt?: unknown }).adopt;
  return {
    factory: () => new (f as ProtocolClass)(),
    ...(typeof adopt === "function" ? { adopt: (old: Protocol) => adopt.call(f, old) as Protocol | undefined } : {}),
  };
}

/** One engine's protocols: the factory, the Protocol serving each fd, the running connection. */
export class ProtocolTable {
  private loaded: LoadedProtocol | undefined;
  private readonly byFd = new Map<number, Protocol>();
  private running: number | null = null;
  // What a callback starts (timers, promises) still logs under its connection.
  private readonly scope = new AsyncLocalStorage<number>();

  /** A Protocol subclass, a function that returns a Protocol, or a stream handler (a net.Server). */
  setProtocolFactory(f: ProtocolSource): void {
    this.loaded = toLoaded(f);
  }

  /** What new connections get from now on (a load or a reload). */
  install(loaded: LoadedProtocol): void {
    this.loaded = loaded;
  }

  get protocolFactory(): ProtocolFactory | undefined {
    return this.loaded?.factory;
  }

  /** The function the loaded code exports as `name` (its own property, not
   * inherited); never the default export, which is the protocol. */
  exported(name: string): ((...args: unknown[]) => unknown) | undefined {
    const exports = this.loaded?.exports;
    if (!exports || name === "default" || !Object.prototype.hasOwnProperty.call(exports, name)) return undefined;
    const f = exports[name];
    return typeof f === "function" ? (f as (...args: unknown[]) => unknown) : undefined;
  }

  /** The Protocol instance serving an fd (Node's copy), if any. */
  getProtocol(fd: number): Protocol | undefined {
    return this.byFd.get(fd);
  }

  attach(fd: number, proto: Protocol): void {
    this.byFd.set(fd, proto);
  }

  detach(fd: number, proto: Protocol): void {
    if (this.byFd.get(fd) === proto) this.byFd.delete(fd);
  }

  /** The connection whose callback is running now, or that started this async work. */
  currentConnection(): number | null {
    return this.running ?? this.scope.getStore() ?? null;
  }

  /** Runs fn as connection id's; `inherit`: what fn starts stays attributed to it. */
  runAs<T>(id: number, fn: () => T, inherit = false): T {
    this.running = id;
    try {
      return inherit ? this.scope.run(id, fn) : fn();
    } finally {
      this.running = null;
    }
  }
}
