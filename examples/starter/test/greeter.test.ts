// node --test: the protocol in erlang-reactor's engine, no sockets needed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connect } from "erlang-reactor/testing";
import Greeter from "../priv/greeter";

describe("Greeter", () => {
  it("welcomes the peer by address", () => {
    const t = connect(Greeter, { clientInfo: { type: "tcp", addr: "192.0.2.7", port: 5000 } });
    assert.equal(t.take(), "WELCOME 192.0.2.7\n");
  });

  it("answers a line however the network cuts it", () => {
    const line = "NAME Ada\n";
    for (let cut = 1; cut < line.length; cut++) {
      const t = connect(Greeter);
      t.take();
      t.feed(line, { at: [cut] });
      assert.equal(t.take(), "HELLO Ada\n");
    }
  });

  it("says goodbye, then closes once a slow reader has it all", () => {
    const t = connect(Greeter);
    t.take();
    t.slowPeer(3).feed("BYE\n");
    assert.equal(t.closed, false);
    t.drain();
    assert.equal(t.take(), "GOODBYE\n");
    assert.equal(t.closed, true);
    assert.deepEqual(t.lost, { reason: undefined });
  });
});
