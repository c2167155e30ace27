// A line protocol: one command per line.
//   PING          -> PONG
//   ECHO <text>   -> <text>
//   UPPER <text>  -> <TEXT>
//   COUNT         -> lines seen on this connection
//   QUIT          -> BYE, then close
// Text is UTF-8 decoded across reads: a character the network cut in two
// waits for its other half (a decoder per connection, as Node's
// socket.setEncoding uses), never two U+FFFD.
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
    const text = this.partial + this.decoder.write(data);
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    if (this.partial.length > MAX_LINE) {
      this.writeBuffer.push("ERR line too long\r\n");
      this.quitting = true;
    }
    for (const raw of parts) {
      if (this.quitting) break;
      this.lines++;
      this.writeBuffer.push(this.command(raw.replace(/\r$/, "")) + "\r\n");
    }
    return this.writeBuffer.length ? "write_pending" : "continue";
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
