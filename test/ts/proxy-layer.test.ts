// The PROXY layer over a stream transport on a fake fd: what it opens with,
// what it passes up, what it asks to be armed for, and how it fails.
import type { ClientInfo } from "../../ts/codec";
import { Slab, StreamTransport } from "../../ts/fd-transport";
import type { Peer } from "../../ts/protocol";
import { ProxyLayer } from "../../ts/proxy-layer";
import type { Upstream } from "../../ts/transport";
import { MemoryFds } from "./memory-fds";

/** The layer above, recording every event. */
class Recorder implements Upstream {
  events: (["open", Partial<ClientInfo>] | ["data", string] | ["end"] | ["error", string, string | undefined])[] = [];
  more = true;
  data(buf: Buffer, _from?: Peer): void {
    this.events.push(["data", buf.toString()]);
  }
  end(): void {
    this.events.push(["end"]);
  }
  open(patch: Partial<ClientInfo>): void {
    this.events.push(["open", patch]);
  }
  error(e: Error, logText?: string): void {
    this.events.push(["error", e.message, logText]);
  }
  wake(): void {}
  wantsMore(): boolean {
    return this.more;
  }
}

function stack() {
  const io = new MemoryFds();
  const bottom = new StreamTransport(io, 3, new Slab(), { bytesIn: 0, bytesOut: 0 }, 4096);
  const layer = new ProxyLayer(bottom, { addr: "10.0.0.1", port: 999 });
  const up = new Recorder();
  layer.up = up;
  return { io, layer, up };
}

const v2 = (body: number[]) =>
  Buffer.concat([
    Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11]),
    Buffer.from([0, body.length]),
    Buffer.from(body),
  ]);

describe("ProxyLayer", () => {
  it("opens with the real client, then passes what followed the header up", () => {
    const { io, layer, up } = stack();
    expect(layer.opensLater).toBe(true);
    io.feed(3, "PROXY TCP4 203.0.113.7 10.0.0.1 5555 443\r\nhello");
    layer.readable();
    expect(up.events).toEqual([
      ["open", { family: "inet", addr: "203.0.113.7", port: 5555, local_addr: "10.0.0.1", local_port: 443, proxied_by: { addr: "10.0.0.1", port: 999 } }],
      ["data", "hello"],
    ]);
    io.feed(3, "more");
    layer.readable();
    expect(up.events[2]).toEqual(["data", "more"]);
  });

  it("asks for reads until the header is complete, whatever the layer above wants", () => {
    const h = Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    const { io, layer, up } = stack();
    for (let i = 0; i < h.length - 1; i++) {
      io.feed(3, h.subarray(i, i + 1));
      layer.readable();
      expect(layer.interest("write_pending")).toBe("read_pending");
    }
    expect(up.events).toEqual([]);
    io.feed(3, h.subarray(h.length - 1));
    layer.readable();
    expect(up.events).toEqual([["open", expect.objectContaining({ addr: "1.2.3.4", port: 1 })]]);
    expect(layer.interest("write_pending")).toBe("write_pending");
  });

  it("opens a v2 LOCAL (health check) header with the connection's own addresses", () => {
    const { io, layer, up } = stack();
    const local = v2([]);
    local[12] = 0x20; // LOCAL
    io.feed(3, Buffer.concat([local, Buffer.from("ping")]));
    layer.readable();
    expect(up.events).toEqual([["open", {}], ["data", "ping"]]);
  });

  it("reads v2 binary headers split at every offset", () => {
    const h = v2([1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 1, 187]);
    for (let cut = 1; cut < h.length; cut++) {
      const { io, layer, up } = stack();
      io.feed(3, h.subarray(0, cut));
      layer.readable();
      io.feed(3, Buffer.concat([h.subarray(cut), Buffer.from("x")]));
      layer.readable();
      expect(up.events).toEqual([["open", expect.objectContaining({ addr: "1.2.3.4", port: 80 })], ["data", "x"]]);
    }
  });

  it("fails a malformed header with a line that names the sender", () => {
    const { io, layer, up } = stack();
    io.feed(3, "GET / HTTP/1.1\r\n\r\n");
    layer.readable();
    expect(up.events).toEqual([
      ["error", expect.stringMatching(/no PROXY header/), "malformed PROXY header from 10.0.0.1:999: no PROXY header (neither \"PROXY \" nor the v2 signature); closing"],
    ]);
  });

  it("reports the end before the header as an end (the connection never opened)", () => {
    const { io, layer, up } = stack();
    io.feed(3, "PROXY TCP4", "eof");
    layer.readable();
    layer.readable();
    expect(up.events).toEqual([["end"]]);
  });

  it("keeps reading a header past a full read even when the layer above would not", () => {
    const io = new MemoryFds();
    const bottom = new StreamTransport(io, 3, new Slab(), { bytesIn: 0, bytesOut: 0 }, 8); // 8-byte reads
    const layer = new ProxyLayer(bottom, { addr: "10.0.0.1", port: 999 });
    const up = new Recorder();
    up.more = false;
    layer.up = up;
    const h = Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"); // 32 bytes: four full reads
    for (let i = 0; i < h.length; i += 8) io.feed(3, h.subarray(i, i + 8));
    layer.readable(); // one READ event
    expect(up.events).toEqual([["open", expect.objectContaining({ addr: "1.2.3.4" })]]);
  });
});
