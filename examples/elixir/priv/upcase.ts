// Answers every line in upper case.
import { Protocol, Action } from "erlang-reactor";

export default class Upcase extends Protocol {
  dataReceived(data: Buffer): Action {
    this.writeBuffer.push(data.toString().toUpperCase());
    return "write_pending";
  }
}
