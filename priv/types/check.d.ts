export interface CheckMessage {
    file: string;
    line: number;
    column: number;
    text: string;
}
export declare class TypeScriptMissing extends Error {
}
type Ts = typeof import("typescript");
/** The .ts files under `target` (a file, or a directory without node_modules). */
export declare function protocolFiles(target: string): string[];
/** TypeScript, from the checked files' directory or from here. */
export declare function loadTypeScript(from: string): Ts;
/**
 * Every type error in `files`, strict, with "erlang-reactor" resolved to
 * `types` (this package's declarations) unless the project has its own.
 */
export declare function checkFiles(ts: Ts, files: string[], types: {
    index: string;
    testing?: string;
}): CheckMessage[];
export {};
