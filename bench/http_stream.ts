// Node's http hello world, the one server both systems of make bench's
// stream scenarios run: a context loads it as its protocol (a stream
// handler: every connection the BEAM accepts is its 'connection'), and
// node_server.ts (`node node_server.js http PORT`) listens with it on Node's
// own net. The same answer as examples/http.ts gives.
import * as http from "http";

const BODY = "Hello from TypeScript on the BEAM!\n";

const server = http.createServer((_req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(BODY) });
  res.end(BODY);
});
server.keepAliveTimeout = 60000;

export default server;
