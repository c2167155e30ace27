// make bench's elixir-nodejs-style peer (bench_json_port.erl): JSON lines over
// stdio, as elixir-nodejs's server.js reads them, with a request id so that one
// port serves many callers. In: [id, fn, args]; out: PREFIX [id, true, result]
// or PREFIX [id, false, message].
import { createInterface } from "readline";

const PREFIX = "__elixirnodejs__UOSBsDUP6bp9IF5__";
const functions = {
  echo: (x) => x, // what bench/bridge.ts's echo does
};

const answer = (id, ok, value) => process.stdout.write(`${PREFIX}${JSON.stringify([id, ok, value])}\n`);

createInterface({ input: process.stdin, terminal: false }).on("line", async (line) => {
  let id = null;
  try {
    const [i, fn, args] = JSON.parse(line);
    id = i;
    if (typeof functions[fn] !== "function") throw new Error(`no function ${fn}`);
    answer(id, true, await functions[fn](...args));
  } catch (e) {
    answer(id, false, String(e?.message ?? e));
  }
});
// the port closed: Erlang is gone
process.stdin.on("end", () => process.exit(0));
