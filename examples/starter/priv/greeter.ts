// A line protocol: "NAME <you>" answers "HELLO <you>", "BYE" says goodbye and
// closes once the goodbye is written.
// Text is decoded across reads (a StringDecoder per connection): a character
// the network cut in two waits for its other half. A line longer than
// MAX_LINE characters, whole or still coming, is answered "ERR line too long"
// and the connection closed, after the lines before it are answered.
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
    if (this.leaving) return this.writeBuffer.length ? "write_pending" : "continue";
    const lines = (this.partial + this.decoder.write(data)).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      const [cmd, ...rest] = line.trim().split(" ");
      if (line.length > MAX_LINE) this.sayGoodbye("ERR line too long\n");
      else if (cmd === "NAME" && rest.length) this.writeBuffer.push(`HELLO ${rest.join(" ")}\n`);
      else if (cmd === "BYE") this.sayGoodbye("GOODBYE\n");
      else this.writeBuffer.push(`ERR unknown command ${JSON.stringify(cmd)}\n`);
      if (this.leaving) break;
    }
    // what is left is the start of a line: one already too long is refused now
    if (!this.leaving && this.partial.length > MAX_LINE) this.sayGoodbye("ERR line too long\n");
    if (this.leaving) this.partial = "";
    return this.writeBuffer.length ? "write_pending" : "continue";
  }

  /** The last answer; the connection closes once it is written. */
  private sayGoodbye(answer: string): void {
    this.writeBuffer.push(answer);
    this.leaving = true;
  }

  /** Written all that was queued: read on, or close after the goodbye. */
  override writeReady(): Action {
    this.flush();
    if (this.writeBuffer.length) return "continue";
    return this.leaving ? "close" : "read_pending";
  }
}
