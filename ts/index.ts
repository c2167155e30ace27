// erlang-reactor: what protocol modules import.
export { Protocol, WriteBuffer, ACTIONS } from "./protocol";
export { MAX_GROUP_BYTES, MAX_GROUPS_PER_CONNECTION } from "./limits";
export type { Action, ClientInfo, ConnRef, Peer, OutgoingDatagram, TimerKind } from "./protocol";
export { setProtocolFactory, getProtocol } from "./unbound";
export type { ProtocolClass, ProtocolFactory, ProtocolSource } from "./protocol-table";
export { Socket } from "./socket";
export { connectionOf } from "./stream";
export type { SocketOptions } from "./socket";
export type { SocketAddress, SocketOption } from "./addon";
export { ReactorError, isSystemError } from "./errors";
export type { ReactorErrorCode, SystemError } from "./errors";
export type { TlsInfo, TransportType } from "./types";
export { beam } from "./beam";
export type { Beam, CallOptions, Destination } from "./beam";
export {
  Atom,
  Bitstring,
  Float,
  ImproperList,
  Pid,
  Port,
  Ref,
  Tuple,
  atom,
  decodeTerm,
  encodeTerm,
  float,
  tuple,
  utf8,
} from "./term";
export type { Encodable, Term } from "./term";
