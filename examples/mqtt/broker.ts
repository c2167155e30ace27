// aedes, an MQTT broker, unmodified, on BEAM connections: the module exports
// a net.Server whose connection listener is aedes.handle, as aedes's README
// writes it for Node's own net. erlang-reactor emits each connection Erlang's
// listener accepts as that server's 'connection', a net.Socket-compatible
// Duplex (the server never listens itself). Retained messages, sessions and
// wills live in aedes's in-memory persistence, in this context's Node.
//
// A client that sends what is not MQTT is destroyed by aedes with the
// parser's error, which becomes the connection's reason (connectionLost,
// telemetry's [reactor, connection, stop]); the others go on.
import * as net from "node:net";
import { Aedes } from "aedes";

// aedes 1.x sets its persistence up before it serves: bytes that arrive
// meanwhile wait in the socket's readable side (reading pauses when it is full).
const broker = Aedes.createBroker();

/** The clients connected now (aedes's count), for Erlang's
 * `reactor_context:call(Ctx, clients, [])`. */
export async function clients(): Promise<number> {
  return (await broker).connectedClients;
}

export default net.createServer((socket) => {
  broker.then(
    (aedes) => aedes.handle(socket),
    (err: Error) => socket.destroy(err),
  );
});
