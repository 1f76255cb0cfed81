// Types of scripts/build.mjs for the TypeScript that imports it (test/lifecycle.test.ts, bench/startup.ts).
export declare const DIST: string;
export declare function isBuildStale(outDir?: string): boolean;
export declare function build(outDir?: string): void;
