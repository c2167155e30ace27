import { ProxyError, parseProxyHeader } from "../../ts/proxy";

const v2 = (cmd: number, fam: number, body: number[]) =>
  Buffer.concat([
    Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20 | cmd, fam]),
    Buffer.from([body.length >> 8, body.length & 255]),
    Buffer.from(body),
  ]);

describe("PROXY protocol", () => {
  it("parses v1 TCP4 and TCP6 and says how long the header was", () => {
    const h = Buffer.from("PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\nGET / HTTP/1.1\r\n");
    expect(parseProxyHeader(h)).toEqual({
      done: true,
      length: 43,
      proxied: { family: "inet", addr: "192.168.0.1", port: 56324, local_addr: "10.0.0.2", local_port: 443 },
    });
    const h6 = Buffer.from("PROXY TCP6 2001:db8::1 ::1 1000 80\r\n");
    expect(parseProxyHeader(h6)).toMatchObject({ done: true, proxied: { family: "inet6", addr: "2001:db8::1" } });
    expect(parseProxyHeader(Buffer.from("PROXY UNKNOWN\r\n"))).toEqual({ done: true, length: 15, proxied: null });
  });

  it("waits for the rest of a header split across reads", () => {
    const h = Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    for (let i = 1; i < h.length; i++) expect(parseProxyHeader(h.subarray(0, i))).toEqual({ done: false });
    const v = v2(1, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 1, 187]);
    for (let i = 1; i < v.length; i++) expect(parseProxyHeader(v.subarray(0, i))).toEqual({ done: false });
  });

  it("parses v2 PROXY over IPv4 and IPv6, and LOCAL", () => {
    expect(parseProxyHeader(v2(1, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 1, 187, 0xaa]))).toEqual({
      done: true,
      length: 29,
      proxied: { family: "inet", addr: "1.2.3.4", port: 80, local_addr: "5.6.7.8", local_port: 443 },
    });
    const six = [...Array(15).fill(0), 1, 0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2, 0x12, 0x34, 0, 22];
    expect(parseProxyHeader(v2(1, 0x21, six))).toMatchObject({
      done: true,
      proxied: { family: "inet6", addr: "::1", local_addr: "2001:db8::2", port: 0x1234, local_port: 22 },
    });
    expect(parseProxyHeader(v2(0, 0x00, []))).toEqual({ done: true, length: 16, proxied: null });
  });

  it("rejects malformed headers with a clear error", () => {
    const bad = [
      "GET / HTTP/1.1\r\n",
      "PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
      "PROXY " + "x".repeat(200),
    ];
    for (const b of bad) expect(() => parseProxyHeader(Buffer.from(b))).toThrow(ProxyError);
    expect(() => parseProxyHeader(v2(1, 0x31, []))).toThrow(/unsupported address family/);
    expect(() => parseProxyHeader(v2(1, 0x11, [1, 2, 3]))).toThrow(/too short/);
    const wrongVersion = v2(1, 0x11, []);
    wrongVersion[12] = 0x31;
    expect(() => parseProxyHeader(wrongVersion)).toThrow(/version 3/);
  });
});
