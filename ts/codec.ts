// The port protocol, both directions, behind one small module.
//
// Control only: which connections are ready and what Node answers for them
// travel on the batch socket instead (batch.ts).
//
// Erlang -> Node: term_to_binary of tuples, read by control-term.ts as arrays,
// atoms and binaries as strings. Node -> Erlang: arrays of strings and integers,
// packed by erlpack, which Erlang maps to atoms through a fixed whitelist
// (reactor_wire.erl).
// Payload bytes never ride here: they move over the fds themselves.
import * as erlpack from "erlpack";
import { EtfError, decodeControl } from "./control-term";
import { DEFAULTS, MAX_ID, MAX_READ_SIZE } from "./limits";
import { decodeTerm } from "./term-decode";
import { Pid } from "./term-types";
import { TlsOptions, parseTlsOptions } from "./tls-config";

import type { ClientInfo, LogLevel, NackReason, Stats, TransportSpec, BatchAction } from "./types";

export type { ClientInfo, LogLevel, NackReason, Stats, TransportSpec, BatchAction };

export interface InitConfig {
  context: string;
  channel: string;
  protocol: string;
  setupCode: string;
  readSize: number;
  writeHighWater: number;
  callbackTimeout: number;
  idleTimeout: number;
  closeTimeout: number;
  lingerTimeout: number;
  lingerMaxBytes: number;
  maxQueuedMessages: number;
  typecheck: boolean;
  /** report each connection's end and each callback that throws (telemetry) */
  telemetry: boolean;
  /** the bridge (bridge.ts): beam.calls in flight at most, their default timeout (ms) */
  maxBeamCalls: number;
  beamCallTimeout: number;
  /** the context's pid (beam.self()) */
  self?: Pid;
  tls?: TlsOptions;
}

export type Incoming =
  | { type: "init"; config: InitConfig }
  | { type: "tls_config"; key: number; options: TlsOptions }
  | { type: "handoff"; id: number; info: ClientInfo; transport: TransportSpec }
  | { type: "close"; id: number; reason: string }
  | { type: "reload"; ref: number; protocol: string; setupCode: string; typecheck: boolean }
  | { type: "stats" }
  | { type: "connections" }
  | { type: "stop" };

export type Outgoing =
  | ["ready"]
  | ["load_error", string, unknown]
  | ["nack", number, NackReason]
  | ["log", LogLevel, number | null, string]
  | ["reloaded", number, number]
  | ["reload_error", number, string, unknown]
  | ["stats", Stats]
  | ["connections", [number, number, number, number, string][]]
  | ["closed", number, number, number, number, string]
  | ["exception", number, string, string];

export class CodecError extends Error {}
export { EtfError };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const isId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_ID;
const isIdList = (v: unknown): v is number[] => Array.isArray(v) && v.every(isId);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

export function decode(frame: Buffer): Incoming {
  let t: unknown;
  try {
    t = decodeControl(frame);
  } catch (e) {
    throw new CodecError(`undecodable frame: ${(e as Error).message}`);
  }
  if (!Array.isArray(t) || typeof t[0] !== "string") throw new CodecError(`not a tagged tuple: ${describe(t)}`);
  switch (t[0]) {
    case "handoff":
      if (t.length === 4 && isId(t[1]) && isPlainObject(t[2]) && isTransportSpec(t[3])) {
        const { preread, ...info } = t[2];
        const transport: TransportSpec = { proxy: t[3].proxy, tls: t[3].tls };
        if (t[3].starttls !== undefined) transport.starttls = t[3].starttls;
        if (t[3].nodelay === true) transport.nodelay = true;
        if (preread === undefined) return { type: "handoff", id: t[1], info: t[2], transport };
        // base64: a binary reads as UTF-8 text
        if (typeof preread !== "string" || !BASE64.test(preread)) break;
        if (preread.length) transport.preread = Buffer.from(preread, "base64");
        return { type: "handoff", id: t[1], info, transport };
      }
      break;
    case "tls_config":
      if (t.length === 3 && isId(t[1]) && isPlainObject(t[2])) {
        return { type: "tls_config", key: t[1], options: tlsOptionsOf(t[2])! };
      }
      break;
    case "close":
      if (t.length === 3 && isId(t[1])) return { type: "close", id: t[1], reason: str(t[2]) };
      break;
    case "reload":
      if (t.length === 3 && isId(t[1]) && isPlainObject(t[2])) {
        const c = t[2];
        return { type: "reload", ref: t[1], protocol: str(c.protocol), setupCode: str(c.setup_code), typecheck: c.typecheck === true };
      }
      break;
    case "stats":
      if (t.length === 1) return { type: "stats" };
      break;
    case "connections":
      if (t.length === 1) return { type: "connections" };
      break;
    case "stop":
      if (t.length === 1) return { type: "stop" };
      break;
    case "init":
      if (t.length === 2 && isPlainObject(t[1])) {
        const c = t[1];
        const readSize = natural(c.read_size, DEFAULTS.readSize);
        if (typeof c.channel !== "string" || readSize < 1 || readSize > MAX_READ_SIZE) break;
        return {
          type: "init",
          config: {
            context: str(c.context),
            channel: c.channel,
            protocol: str(c.protocol),
            setupCode: str(c.setup_code),
            readSize,
            writeHighWater: natural(c.write_high_water, DEFAULTS.writeHighWater),
            callbackTimeout: natural(c.callback_timeout, DEFAULTS.callbackTimeout),
            idleTimeout: natural(c.idle_timeout, DEFAULTS.idleTimeout),
            closeTimeout: natural(c.close_timeout, DEFAULTS.closeTimeout),
            lingerTimeout: natural(c.linger_timeout, DEFAULTS.lingerTimeout),
            lingerMaxBytes: natural(c.linger_max_bytes, DEFAULTS.lingerMaxBytes),
            maxQueuedMessages: Math.max(1, natural(c.max_queued_messages, DEFAULTS.maxQueuedMessages)),
            typecheck: c.typecheck === true,
            telemetry: c.telemetry === true,
            maxBeamCalls: natural(c.max_beam_calls, DEFAULTS.maxBeamCalls) || DEFAULTS.maxBeamCalls,
            beamCallTimeout: natural(c.beam_call_timeout, DEFAULTS.beamCallTimeout),
            self: pidOf(c.self),
            tls: tlsOptionsOf(c.tls),
          },
        };
      }
      break;
  }
  throw new CodecError(`malformed message: ${describe(t)}`);
}

export function encode(msg: Outgoing): Buffer {
  return erlpack.pack(msg);
}

function tlsOptionsOf(v: unknown): TlsOptions | undefined {
  try {
    return parseTlsOptions(v);
  } catch (e) {
    throw new CodecError((e as Error).message);
  }
}

/** A non-negative integer option, or its default when absent or not one. */
function natural(v: unknown, dflt: number): number {
  return Number.isInteger(v) && (v as number) >= 0 ? (v as number) : dflt;
}

/** The context's pid: term_to_binary's bytes, in base64 (binaries read as text). */
function pidOf(v: unknown): Pid | undefined {
  if (typeof v !== "string" || !BASE64.test(v)) return undefined;
  try {
    const p = decodeTerm(Buffer.from(v, "base64"));
    return p instanceof Pid ? p : undefined;
  } catch {
    return undefined;
  }
}

function isTransportSpec(v: unknown): v is TransportSpec {
  return (
    isPlainObject(v) &&
    typeof v.proxy === "boolean" &&
    (v.tls === false || isId(v.tls)) &&
    (v.starttls === undefined || isId(v.starttls)) &&
    (v.nodelay === undefined || typeof v.nodelay === "boolean")
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 200 ? s.slice(0, 200) + "..." : s;
}
