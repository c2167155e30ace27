// Node's own http server, unmodified, on BEAM connections. The module
// exports the server: erlang-reactor emits each connection Erlang's listener
// accepts as its 'connection' (the server never listens itself).
//
//   GET  /            hello, and who asked (remote address and port, TLS or not)
//   POST /echo        the request body back
//   PUT  /upload      the body's length and SHA-256 (a chunked upload streams in)
import { createHash } from "node:crypto";
import * as http from "node:http";

export default http.createServer((req, res) => {
  const socket = req.socket as typeof req.socket & { encrypted?: boolean };
  if (req.method === "GET" && req.url === "/") {
    res.setHeader("content-type", "text/plain");
    res.end(`hello from node:http on the BEAM: ${socket.remoteAddress}:${socket.remotePort}${socket.encrypted ? " over TLS" : ""}\n`);
  } else if (req.method === "POST" && req.url === "/echo") {
    req.pipe(res);
  } else if (req.method === "PUT" && req.url === "/upload") {
    const hash = createHash("sha256");
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      hash.update(chunk);
    });
    req.on("end", () => res.end(`${size} ${hash.digest("hex")}\n`));
  } else {
    res.statusCode = 404;
    res.end("not found\n");
  }
});
