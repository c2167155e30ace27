import * as tls from "tls";
export type { TlsInfo } from "./types";
export interface TlsOptions {
    certfile: string;
    keyfile: string;
    cacertfile?: string;
    /** "verify_peer" asks for a client certificate and rejects a bad one */
    verify?: "verify_peer" | "verify_none";
    /** with verify_peer: refuse clients that send no certificate (default true) */
    fail_if_no_peer_cert?: boolean;
    alpn?: string[];
    /** ms a handshake may take (default DEFAULTS.handshakeTimeout) */
    handshake_timeout?: number;
}
/** TLS options as Erlang sends them; undefined when there are none. */
export declare function parseTlsOptions(v: unknown): TlsOptions | undefined;
export declare class TlsConfig {
    readonly context: tls.SecureContext;
    readonly requestCert: boolean;
    readonly rejectUnauthorized: boolean;
    readonly alpn?: string[];
    readonly handshakeTimeout: number;
    constructor(o: TlsOptions);
}
