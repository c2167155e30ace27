// erlang-reactor: what protocol modules import.
export { Protocol, WriteBuffer, ACTIONS } from "./protocol";
export type { Action, ClientInfo, Peer, OutgoingDatagram } from "./protocol";
export { setProtocolFactory, getProtocol } from "./reactor";
export type { ProtocolClass, ProtocolFactory } from "./reactor";
export { ReactorError, isSystemError } from "./errors";
export type { ReactorErrorCode, SystemError } from "./errors";
