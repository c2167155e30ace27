// make bench's plain-Node peer for publish (bench/lib/loads.mjs):
//   node node_fanout.mjs PORT [SIZE]
// Accepts connections; one that sends a byte (loadgen sink's subscribe) is a
// member, and every member gets a SIZE-byte message (64) round after round as fast as it can while any are connected: WINDOW rounds,
// then it waits for every socket whose write returned false to 'drain', as
// bench_bridge's publisher waits for bench/bridge.ts's members to catch up.
import { createServer } from "net";

const WINDOW = 32; // bench_bridge.erl's ?WINDOW
const [port = "0", size = "64"] = process.argv.slice(2);
const message = Buffer.alloc(Number(size), "m");
const sockets = new Set();
let running = false;

// 'drain', or 'close' for a socket that ends first
const drained = (s) =>
  new Promise((resolve) => {
    const done = () => {
      s.off("drain", done).off("close", done);
      resolve();
    };
    s.on("drain", done).on("close", done);
  });

async function fanOut() {
  running = true;
  while (sockets.size > 0) {
    const behind = [];
    for (let round = 0; round < WINDOW; round++) {
      for (const s of sockets) if (!s.write(message)) behind.push(s);
    }
    // a socket behind twice in a window is waited for once
    await Promise.all([...new Set(behind)].filter((s) => s.writableNeedDrain).map(drained));
    await new Promise((r) => setImmediate(r)); // let connects, reads and closes in
  }
  running = false;
}

// Nagle's algorithm stays on (Node's default), as on the reactor's accepted
// sockets in this scenario (bench_bridge.erl's listener: socket_opts nodelay
// false): the same segments either way.
const server = createServer((s) => {
  s.on("error", () => s.destroy());
  s.on("close", () => sockets.delete(s));
  s.on("data", () => {
    // the first byte subscribes; what follows is dropped
    if (sockets.has(s)) return;
    sockets.add(s);
    if (!running) void fanOut();
  });
});
server.listen(Number(port), "127.0.0.1", () => console.log(`READY port=${server.address().port}`));
