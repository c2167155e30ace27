// A line protocol: "NAME <you>" answers "HELLO <you>", "BYE" says goodbye and
// closes once the goodbye is written.
// Text is decoded across reads (a StringDecoder per connection): a character
// the network cut in two waits for its other half.
import { StringDecoder } from "string_decoder";
import { Action, ClientInfo, Protocol } from "erlang-reactor";

const MAX_LINE = 1024;

export default class Greeter extends Protocol {
  private partial = "";
  private readonly decoder = new StringDecoder("utf8");
  private leaving = false;

  override connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    this.writeBuffer.push(`WELCOME ${info.addr ?? "stranger"}\n`);
    return "write_pending";
  }

  override dataReceived(data: Buffer): Action {
    const lines = (this.partial + this.decoder.write(data)).split("\n");
    this.partial = lines.pop() ?? "";
    if (this.partial.length > MAX_LINE) return "close";
    for (const line of lines) {
      const [cmd, ...rest] = line.trim().split(" ");
      if (cmd === "NAME" && rest.length) this.writeBuffer.push(`HELLO ${rest.join(" ")}\n`);
      else if (cmd === "BYE") {
        this.writeBuffer.push("GOODBYE\n");
        this.leaving = true;
        break;
      } else this.writeBuffer.push(`ERR unknown command ${JSON.stringify(cmd)}\n`);
    }
    return this.writeBuffer.length ? "write_pending" : "continue";
  }

  /** Written all that was queued: read on, or close after the goodbye. */
  override writeReady(): Action {
    this.flush();
    if (this.writeBuffer.length) return "continue";
    return this.leaving ? "close" : "read_pending";
  }
}
