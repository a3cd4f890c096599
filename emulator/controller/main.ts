// Runs the controller emulator by hand:
//   npm run emulator -- --port 8090 [--host 127.0.0.1] [--templates <file>] [--timing fast|demo]
// --templates takes a whole seed file or a JSON array of templates (the default seed supplies the rest).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEMO_TIMING, FAST_TIMING, parseSeed, startControllerEmulator } from "./index.ts";

const TIMINGS = { fast: FAST_TIMING, demo: DEMO_TIMING };

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8090" },
    templates: { type: "string" },
    timing: { type: "string", default: "demo" },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: not a port number: ${values.port}`);
if (values.timing !== "fast" && values.timing !== "demo")
  fail(`--timing: expected fast or demo, got ${values.timing}`);
const timing = TIMINGS[values.timing];
const seed = values.templates
  ? parseSeed(readFileSync(values.templates, "utf8"), values.templates)
  : undefined;

const emulator = await startControllerEmulator({ host: values.host, port, timing, seed });
console.log(`Anka controller emulator listening on ${emulator.url} (timing: ${values.timing})`);
console.log(`Admin: ${emulator.url}/_emulator/requests, /_emulator/instances, /_emulator/faults`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.log(`${signal}: stopping`);
    void emulator.close().then(() => process.exit(0));
  });
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
