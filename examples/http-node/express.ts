// An Express 5 app, unmodified, on BEAM connections: the module exports the
// http.Server Express runs in, as a stream handler (see http.ts).
//
//   GET  /hello/:name   a greeting
//   GET  /whoami        what Express sees of the connection (req.ip, req.secure, ...)
//   POST /json          the JSON body back, with its keys counted (express.json())
//   GET  /async-error   an async handler that rejects: Express 5 answers 500
import * as http from "node:http";
import express from "express";

const app = express();
app.use(express.json());

app.get("/hello/:name", (req, res) => {
  res.send(`hello, ${req.params.name}\n`);
});

app.get("/whoami", (req, res) => {
  const socket = req.socket as typeof req.socket & { alpnProtocol?: string | false };
  res.json({
    ip: req.ip,
    protocol: req.protocol,
    secure: req.secure,
    remotePort: socket.remotePort,
    localPort: socket.localPort,
    alpn: socket.alpnProtocol ?? false,
  });
});

app.post("/json", (req, res) => {
  res.json({ keys: Object.keys(req.body ?? {}).length, body: req.body });
});

app.get("/async-error", async () => {
  await new Promise((r) => setTimeout(r, 1));
  throw new Error("an async handler failed");
});

export default http.createServer(app);
