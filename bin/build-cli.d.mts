/** Where `npm ci` (prepare) puts the CLI bundle that bin/anka-azdo.mjs runs while it is fresh. */
export declare const CLI_BUNDLE: string;
/** Bundles src/cli into one ESM file (dependencies stay external); returns its path. */
export declare function buildCli(outfile?: string): Promise<string>;
