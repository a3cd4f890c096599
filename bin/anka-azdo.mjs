#!/usr/bin/env node
// The `anka-azdo` command. Two ways to run the same TypeScript (src/cli/main.ts):
// - the bundle `npm ci` builds (`prepare`: bin/build-cli.mjs) into build/cli/, while it is newer
//   than every file under src/: it starts in a fraction of the time;
// - otherwise the sources themselves through tsx (a runtime dependency), so a clone whose sources
//   changed since (an edit, a git pull) never runs stale code.
// The pipeline-task bundles are built from src/tasks entries only: they never see these dependencies.
import { readdirSync, statSync } from "node:fs";
import os from "node:os";
import process from "node:process";
import { setTimeout } from "node:timers";
import { fileURLToPath, pathToFileURL, URL } from "node:url";

// `anka-azdo list | head -1`: a reader that goes away is no error worth a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (error) => process.exit(error.code === "EPIPE" ? 0 : 1));

const bundle = fileURLToPath(new URL("../build/cli/anka-azdo.mjs", import.meta.url));
const sources = fileURLToPath(new URL("../src", import.meta.url));
const fresh = mtimeOf(bundle) > newestUnder(sources);
if (process.argv.includes("--debug"))
  process.stderr.write(
    `debug: running ${fresh ? `the bundle ${bundle}` : `the sources in ${sources} through tsx`}\n`,
  );

let main;
if (fresh) {
  ({ main } = await import(pathToFileURL(bundle).href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  home: os.homedir(),
  stdout: process.stdout,
  stderr: process.stderr,
});
process.exitCode = code;
// Every client is closed by now; should a library still hold the loop open, do not hang the shell.
setTimeout(() => process.exit(code), 2_000).unref();

function mtimeOf(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

function newestUnder(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, mtimeOf(`${entry.parentPath ?? entry.path}/${entry.name}`));
  }
  return newest;
}
