import * as tls from "tls";
export type { TlsInfo } from "./types";
/** The options as Erlang sends them. `verify` and `fail_if_no_peer_cert` are
 * always there: their defaults live in reactor_tls:options/1 only. */
export interface TlsOptions {
    certfile: string;
    keyfile: string;
    cacertfile?: string;
    /** "verify_peer" asks for a client certificate and rejects a bad one */
    verify: "verify_peer" | "verify_none";
    /** with verify_peer: refuse clients that send no certificate */
    fail_if_no_peer_cert: boolean;
    alpn?: string[];
    /** ms a handshake may take (default DEFAULTS.handshakeTimeout) */
    handshake_timeout?: number;
}
/** TLS options as Erlang sends them; undefined when there are none. Throws a
 * TypeError when one Erlang always sends is missing or malformed. */
export declare function parseTlsOptions(v: unknown): TlsOptions | undefined;
export declare class TlsConfig {
    readonly context: tls.SecureContext;
    readonly requestCert: boolean;
    readonly rejectUnauthorized: boolean;
    readonly alpn?: string[];
    readonly handshakeTimeout: number;
    constructor(o: TlsOptions);
}
/** A context's TLS configurations by the key Erlang gave each (`tls_config`
 * frames; key 0 is the context's own `tls`), or why one could not be made. */
export declare class TlsConfigs {
    private readonly byKey;
    /** Makes the configuration once; returns the error when it cannot be made
     * (the handoffs that name it are refused). */
    add(key: number, opts: TlsOptions): Error | undefined;
    /** What a handoff names: undefined for `false` (none), the configuration,
     * or an Error (it failed, or Erlang never sent that key). */
    get(key: number | false): TlsConfig | Error | undefined;
}
