// The PROXY protocol header a load balancer puts in front of a connection
// (v1 text and v2 binary, https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt).

export interface ProxyAddresses {
  family: "inet" | "inet6";
  addr: string;
  port: number;
  local_addr: string;
  local_port: number;
}

export type ProxyResult =
  | { done: false } // need more bytes
  | { done: true; length: number; proxied: ProxyAddresses | null }; // null: LOCAL / UNKNOWN

export class ProxyError extends Error {}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107;
const V2_MAX = 16 + 1024; // addresses plus a generous allowance of TLVs

/** Parse a header at the start of `buf`. Throws ProxyError when it is malformed. */
export function parseProxyHeader(buf: Buffer): ProxyResult {
  if (buf.length === 0) return { done: false };
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf); // "P"
  throw new ProxyError("no PROXY header (neither \"PROXY \" nor the v2 signature)");
}

function parseV1(buf: Buffer): ProxyResult {
  const prefix = "PROXY ";
  const head = buf.subarray(0, Math.min(buf.length, prefix.length)).toString("latin1");
  if (!prefix.startsWith(head)) throw new ProxyError("no PROXY header");
  const end = buf.indexOf("\r\n");
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new ProxyError(`v1 header longer than ${V1_MAX} bytes`);
    return { done: false };
  }
  const line = buf.subarray(0, end).toString("latin1");
  const parts = line.split(" ");
  if (parts[1] === "UNKNOWN") return { done: true, length: end + 2, proxied: null };
  if (parts.length !== 6 || (parts[1] !== "TCP4" && parts[1] !== "TCP6")) {
    throw new ProxyError(`malformed v1 header ${JSON.stringify(line)}`);
  }
  const [, proto, src, dst, sport, dport] = parts;
  const family = proto === "TCP4" ? "inet" : "inet6";
  if (!validAddr(src, family) || !validAddr(dst, family) || !validPort(sport) || !validPort(dport)) {
    throw new ProxyError(`malformed v1 header ${JSON.stringify(line)}`);
  }
  return {
    done: true,
    length: end + 2,
    proxied: { family, addr: src, port: Number(sport), local_addr: dst, local_port: Number(dport) },
  };
}

function parseV2(buf: Buffer): ProxyResult {
  const sig = buf.subarray(0, Math.min(buf.length, 12));
  if (!V2_SIGNATURE.subarray(0, sig.length).equals(sig)) throw new ProxyError("no PROXY header (bad v2 signature)");
  if (buf.length < 16) return { done: false };
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) throw new ProxyError(`v2 header with version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  const fam = buf[13];
  const len = buf.readUInt16BE(14);
  if (16 + len > V2_MAX) throw new ProxyError(`v2 header of ${16 + len} bytes is too long`);
  if (buf.length < 16 + len) return { done: false };
  const total = 16 + len;
  if (cmd === 0) return { done: true, length: total, proxied: null }; // LOCAL: health check
  if (cmd !== 1) throw new ProxyError(`v2 header with command ${cmd}`);
  const body = buf.subarray(16, total);
  const af = V2_FAMILIES[fam & 0xf0];
  if (af && (fam & 0x0f) !== 0x00 && (fam & 0x0f) <= 0x02) {
    // source address, destination address, source port, destination port
    const n = af.size;
    if (len < 2 * n + 4) throw new ProxyError(`v2 ${af.name} header too short`);
    return {
      done: true,
      length: total,
      proxied: {
        family: af.family,
        addr: af.format(body.subarray(0, n)),
        local_addr: af.format(body.subarray(n, 2 * n)),
        port: body.readUInt16BE(2 * n),
        local_port: body.readUInt16BE(2 * n + 2),
      },
    };
  }
  if (fam === 0x00) return { done: true, length: total, proxied: null }; // UNSPEC
  throw new ProxyError(`v2 header with unsupported address family 0x${fam.toString(16)}`);
}

// v2 address families (high nibble) over TCP or UDP (low nibble 1 or 2).
const V2_FAMILIES: Record<number, { family: "inet" | "inet6"; name: string; size: number; format: (b: Buffer) => string }> = {
  0x10: { family: "inet", name: "IPv4", size: 4, format: ipv4 },
  0x20: { family: "inet6", name: "IPv6", size: 16, format: ipv6 },
};

function ipv4(b: Buffer): string {
  return Array.from(b).join(".");
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // the shortest form, as inet_ntop writes it: the longest run of zero groups becomes ::
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

function validAddr(a: string, family: "inet" | "inet6"): boolean {
  if (family === "inet") return /^(\d{1,3})(\.\d{1,3}){3}$/.test(a) && a.split(".").every((o) => Number(o) < 256);
  return /^[0-9a-fA-F:.]+$/.test(a) && a.includes(":");
}

function validPort(p: string): boolean {
  return /^\d{1,5}$/.test(p) && Number(p) < 65536;
}
