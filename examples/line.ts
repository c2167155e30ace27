// A line protocol: one command per line.
//   PING          -> PONG
//   ECHO <text>   -> <text>
//   UPPER <text>  -> <TEXT>
//   COUNT         -> lines seen on this connection
//   QUIT          -> BYE, then close
// Text is UTF-8 decoded across reads: a character the network cut in two
// waits for its other half (a decoder per connection, as Node's
// socket.setEncoding uses), never two U+FFFD. A line longer than MAX_LINE
// characters, whole or still coming, is answered "ERR line too long" and
// the connection closed; the lines before it are answered first.
import { StringDecoder } from "string_decoder";
import { Protocol, Action, ClientInfo } from "erlang-reactor";

const MAX_LINE = 8192;

export default class Line extends Protocol {
  private partial = "";
  private readonly decoder = new StringDecoder("utf8");
  private lines = 0;
  private quitting = false;

  connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    this.writeBuffer.push(`HELLO ${info.addr ?? "peer"}\r\n`);
    return "write_pending";
  }

  dataReceived(data: Buffer): Action {
    if (!this.quitting) {
      const text = this.partial + this.decoder.write(data);
      const parts = text.split("\n");
      this.partial = parts.pop() ?? "";
      for (const raw of parts) {
        const line = raw.replace(/\r$/, "");
        if (line.length > MAX_LINE) this.tooLong();
        else {
          this.lines++;
          this.writeBuffer.push(this.command(line) + "\r\n");
        }
        if (this.quitting) break;
      }
      // what is left is the start of a line: one already too long is refused now
      if (!this.quitting && this.partial.length > MAX_LINE) this.tooLong();
    }
    // after QUIT or a refusal, what the peer still sends is not read into lines
    if (this.quitting) this.partial = "";
    return this.writeBuffer.length ? "write_pending" : "continue";
  }

  private tooLong(): void {
    this.writeBuffer.push("ERR line too long\r\n");
    this.quitting = true;
  }

  writeReady(): Action {
    this.flush();
    if (this.writeBuffer.length) return "continue";
    return this.quitting ? "close" : "read_pending";
  }

  private command(line: string): string {
    const space = line.indexOf(" ");
    const cmd = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const arg = space < 0 ? "" : line.slice(space + 1);
    switch (cmd) {
      case "PING":
        return "PONG";
      case "ECHO":
        return arg;
      case "UPPER":
        return arg.toUpperCase();
      case "COUNT":
        return String(this.lines);
      case "QUIT":
        this.quitting = true;
        return "BYE";
      default:
        return `ERR unknown command ${JSON.stringify(cmd)}`;
    }
  }
}
