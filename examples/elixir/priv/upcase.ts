// Answers every line in upper case. UTF-8 is decoded across reads: a
// character the network cut in two waits for its other half.
import { StringDecoder } from "string_decoder";
import { Protocol, Action } from "erlang-reactor";

export default class Upcase extends Protocol {
  private readonly decoder = new StringDecoder("utf8");

  dataReceived(data: Buffer): Action {
    this.writeBuffer.push(this.decoder.write(data).toUpperCase());
    return "write_pending";
  }
}
