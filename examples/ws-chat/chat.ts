// ws, unmodified, on BEAM connections: Node's http server answers plain
// requests and hands upgrades to two WebSocketServers ({ noServer: true }),
// as ws's README does for several servers on one port. The module exports the
// http.Server; erlang-reactor emits each connection Erlang's listener accepts
// as its 'connection' (the server never listens itself).
//
//   GET /             the chat page (index.html): a browser joins /chat
//   GET /stats        JSON: who is connected, and the last closes seen (the
//                     peer's port, the close code and reason)
//   WS  /chat?name=N  a chat room: every text line goes to every member as
//                     JSON ({ type: "message", from, text }); "/who" lists
//                     the members, "/quit" is closed by the server (1000, "bye N")
//   WS  /echo         every message back as it came, text or binary
//
// A message over MAX_MESSAGE ends its connection: ws sends close code 1009,
// and the socket is destroyed with ws's error, which becomes the connection's
// reason (connectionLost, telemetry's [reactor, connection, stop]).
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import { WebSocket, WebSocketServer, type RawData } from "ws";

/** The largest message a peer may send, in bytes (ws's maxPayload). */
export const MAX_MESSAGE = 16 * 1024 * 1024;
/** How many closes /stats remembers. */
const CLOSES_KEPT = 20;

const page = readFileSync(join(__dirname, "index.html"));
const chat = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
const echo = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
const names = new Map<WebSocket, string>();
const closes: { path: string; port: number | undefined; code: number; reason: string }[] = [];

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method === "GET" && url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  } else if (req.method === "GET" && url.pathname === "/stats") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ chat: [...names.values()], echo: echo.clients.size, closes }));
  } else {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  }
});

server.on("upgrade", (req: http.IncomingMessage, socket, head: Buffer) => {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  const wss = path === "/chat" ? chat : path === "/echo" ? echo : undefined;
  if (!wss) {
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    // On an error (a message over maxPayload, a protocol error) ws sends its
    // close frame (1009, 1002), ends the socket and drops what the peer
    // still sends. At the peer's end the connection ends with ws's error as
    // its reason (connectionLost, telemetry), not as a clean close; ending
    // it sooner would reset a peer still sending, before it reads the frame.
    ws.on("error", (err) => {
      if (socket.readableEnded) socket.destroy(err);
      else socket.once("end", () => socket.destroy(err));
    });
    ws.on("close", (code, reason) => {
      closes.push({ path, port: req.socket.remotePort, code, reason: reason.toString() });
      if (closes.length > CLOSES_KEPT) closes.shift();
    });
    wss.emit("connection", ws, req);
  });
});

echo.on("connection", (ws: WebSocket) => {
  ws.on("message", (data: RawData, isBinary: boolean) => ws.send(data, { binary: isBinary }));
});

chat.on("connection", (ws: WebSocket, req: http.IncomingMessage) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const name = (url.searchParams.get("name") ?? "").slice(0, 32) || `guest${names.size + 1}`;
  names.set(ws, name);
  const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  ws.send(JSON.stringify({ type: "welcome", you: name, peer, members: [...names.values()] }));
  broadcast({ type: "join", name });
  ws.on("message", (data: RawData, isBinary: boolean) => {
    const text = isBinary ? `(${(data as Buffer).length} binary bytes)` : data.toString();
    if (text === "/quit") ws.close(1000, `bye ${name}`);
    else if (text === "/who") ws.send(JSON.stringify({ type: "members", members: [...names.values()] }));
    else broadcast({ type: "message", from: name, text });
  });
  ws.on("close", () => {
    names.delete(ws);
    broadcast({ type: "leave", name });
  });
});

function broadcast(msg: object): void {
  const line = JSON.stringify(msg);
  for (const peer of names.keys()) if (peer.readyState === WebSocket.OPEN) peer.send(line);
}

export default server;
