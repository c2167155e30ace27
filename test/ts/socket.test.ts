import * as http from "http";
import * as net from "net";
import { connect } from "../../ts/testing";
import type { Socket } from "../../ts/socket";

describe("a stream handler's Socket", () => {
  it("serves Node's http over the engine", async () => {
    const t = connect(http.createServer((req, res) => res.end(`hello ${req.url}`)));
    t.feed("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    await t.settle();
    const out = t.take();
    expect(out).toMatch(/^HTTP\/1.1 200 OK\r\n/);
    expect(out).toMatch(/hello \/a$/);
  });
});
