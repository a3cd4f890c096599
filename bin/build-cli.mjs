#!/usr/bin/env node
// `npm run build:cli` (and `prepare`, so `npm ci` in a clone runs it): bundles src/cli into one
// ESM file beside the other build output. The dependencies (commander, yaml, ...) stay in
// node_modules; only our TypeScript is bundled. bin/anka-azdo.mjs runs this bundle while it is
// newer than every source file, and the sources through tsx otherwise.
import { mkdirSync, renameSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CLI_BUNDLE = path.join(root, "build", "cli", "anka-azdo.mjs");

export async function buildCli(outfile = CLI_BUNDLE) {
  mkdirSync(path.dirname(outfile), { recursive: true });
  // Written aside and renamed: a CLI starting meanwhile never reads half a file.
  const partial = `${outfile}.${process.pid}.tmp`;
  await build({
    entryPoints: [path.join(root, "src", "cli", "main.ts")],
    outfile: partial,
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: false,
    logLevel: "warning",
  });
  renameSync(partial, outfile);
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(`Built ${path.relative(root, await buildCli())}\n`);
}
