// The port process's entry point (build.mjs bundles it as priv/reactor_port.js):
// the frame stream off stdout, console output to Erlang's logger, stdin to the
// Port. The only module that acts when loaded; the others only define.
import { addon } from "./addon";
import { redirectConsole } from "./console";
import { Outbox } from "./outbox";
import { Port } from "./port";
import { INPUT_FD } from "./port-input";
import { ProtocolTable } from "./protocol-table";

/** ms the event loop has to end this process once Erlang's side is gone. */
const ORPHAN_GRACE_MS = 5000;

function main(): void {
  const io = addon();
  // Before anything touches process.stdout: from here on fd 1 is stderr and
  // the frames have an fd of their own.
  const out = new Outbox(io, io.takeStdout());
  io.watchStdin(ORPHAN_GRACE_MS);
  // This process's one engine: its protocol factory, fds and running connection.
  const protocols = new ProtocolTable();
  redirectConsole(out, () => protocols.currentConnection());
  process.setSourceMapsEnabled?.(true);
  const port = new Port(io, out, protocols, {
    exit: (code) => process.exit(code),
    stopped: () => {
      process.exitCode = 0;
      // Let stdout drain, then leave; Erlang waits for our exit status.
      io.unwatch(INPUT_FD);
      setImmediate(() => process.exit(0));
    },
  });
  // Read by the addon, not process.stdin: one frame per callback (Addon.watch).
  io.watch(INPUT_FD, (events) => port.onInput(events));
}

main();
