// Echo: sends back whatever it receives.
import { Protocol, Action } from "erlang-reactor";

export default class Echo extends Protocol {
  dataReceived(data: Buffer): Action {
    this.writeBuffer.push(data); // a view of the bytes read: queued, not copied
    return "write_pending";
  }
}
