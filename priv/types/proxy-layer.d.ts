import type { BatchAction } from "./types";
import { Layer, Transport } from "./transport";
export declare class ProxyLayer extends Layer {
    /** who sent the header (the load balancer), for errors and `proxied_by` */
    private readonly sender;
    /** the header's bytes seen so far; undefined once it is complete */
    private head;
    constructor(below: Transport, 
    /** who sent the header (the load balancer), for errors and `proxied_by` */
    sender: {
        addr?: string;
        port?: number;
    });
    get opensLater(): boolean;
    interest(want: BatchAction): BatchAction;
    data(bytes: Buffer): void;
    wantsMore(): boolean;
}
