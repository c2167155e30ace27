// TLS settings: the options Erlang sends (a context's, or a listener's under
// a key), checked once, and the secure context made from them once.
import * as fs from "fs";
import * as tls from "tls";
import { DEFAULTS } from "./limits";
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
export function parseTlsOptions(v: unknown): TlsOptions | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.certfile !== "string" || typeof o.keyfile !== "string") throw new TypeError("tls needs certfile and keyfile");
  if ((o.verify !== "verify_peer" && o.verify !== "verify_none") || typeof o.fail_if_no_peer_cert !== "boolean") {
    throw new TypeError("tls needs verify (verify_peer | verify_none) and fail_if_no_peer_cert (a boolean)");
  }
  const timeout = o.handshake_timeout;
  return {
    certfile: o.certfile,
    keyfile: o.keyfile,
    cacertfile: typeof o.cacertfile === "string" && o.cacertfile ? o.cacertfile : undefined,
    verify: o.verify,
    fail_if_no_peer_cert: o.fail_if_no_peer_cert,
    alpn: Array.isArray(o.alpn) ? o.alpn.filter((a): a is string => typeof a === "string") : undefined,
    handshake_timeout: Number.isInteger(timeout) && (timeout as number) >= 0 ? (timeout as number) : undefined,
  };
}

export class TlsConfig {
  readonly context: tls.SecureContext;
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
  readonly alpn?: string[];
  readonly handshakeTimeout: number;

  constructor(o: TlsOptions) {
    this.context = tls.createSecureContext({
      cert: fs.readFileSync(o.certfile),
      key: fs.readFileSync(o.keyfile),
      ca: o.cacertfile ? fs.readFileSync(o.cacertfile) : undefined,
    });
    this.requestCert = o.verify === "verify_peer";
    this.rejectUnauthorized = this.requestCert && o.fail_if_no_peer_cert;
    this.alpn = o.alpn?.length ? o.alpn : undefined;
    this.handshakeTimeout = o.handshake_timeout ?? DEFAULTS.handshakeTimeout;
  }
}

/** A context's TLS configurations by the key Erlang gave each (`tls_config`
 * frames; key 0 is the context's own `tls`), or why one could not be made. */
export class TlsConfigs {
  private readonly byKey = new Map<number, TlsConfig | Error>();

  /** Makes the configuration once; returns the error when it cannot be made
   * (the handoffs that name it are refused). */
  add(key: number, opts: TlsOptions): Error | undefined {
    try {
      this.byKey.set(key, new TlsConfig(opts));
      return undefined;
    } catch (e) {
      this.byKey.set(key, e as Error);
      return e as Error;
    }
  }

  /** What a handoff names: undefined for `false` (none), the configuration,
   * or an Error (it failed, or Erlang never sent that key). */
  get(key: number | false): TlsConfig | Error | undefined {
    if (key === false) return undefined;
    return this.byKey.get(key) ?? new Error(`no TLS configuration ${key}`);
  }
}
