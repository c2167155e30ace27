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
