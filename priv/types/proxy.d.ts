export interface ProxyAddresses {
    family: "inet" | "inet6";
    addr: string;
    port: number;
    local_addr: string;
    local_port: number;
}
export type ProxyResult = {
    done: false;
} | {
    done: true;
    length: number;
    proxied: ProxyAddresses | null;
};
export declare class ProxyError extends Error {
}
/** Parse a header at the start of `buf`. Throws ProxyError when it is malformed. */
export declare function parseProxyHeader(buf: Buffer): ProxyResult;
