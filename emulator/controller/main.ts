// Runs the controller emulator by hand:
//   npm run emulator -- --port 8090 [--host 127.0.0.1] [--templates <file>] [--timing fast|demo]
//                       [--controller-version 1.50.1|1.44.0]   the release to behave like (versions.ts)
// --templates takes a whole seed file or a JSON array of templates (the default seed supplies the rest).
// Authentication and TLS (reference §7), like the controller's settings:
//   --root-token <token>     ANKA_ENABLE_AUTH + ANKA_ROOT_TOKEN (or set ANKA_ROOT_TOKEN in the environment)
//   --api-keys               ANKA_ENABLE_API_KEYS: /api/v1/apikey and the UAK handshake
//   --session-ttl <seconds>  ANKA_API_KEYS_SESSION_TTL
//   --tls-cert <file> --tls-key <file> [--tls-ca <file>]   serve HTTPS; the CA verifies client certificates
//   --client-certificates    certificate authentication (needs --tls-ca)
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  DEMO_TIMING,
  FAST_TIMING,
  controllerBehaviour,
  parseSeed,
  startControllerEmulator,
} from "./index.ts";

const TIMINGS = { fast: FAST_TIMING, demo: DEMO_TIMING };

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8090" },
    templates: { type: "string" },
    timing: { type: "string", default: "demo" },
    "controller-version": { type: "string" },
    "root-token": { type: "string" },
    "api-keys": { type: "boolean", default: false },
    "session-ttl": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-ca": { type: "string" },
    "client-certificates": { type: "boolean", default: false },
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

const rootToken = values["root-token"] ?? process.env.ANKA_ROOT_TOKEN;
const sessionTtlSeconds = values["session-ttl"] === undefined ? undefined : Number(values["session-ttl"]);
if (sessionTtlSeconds !== undefined && !(sessionTtlSeconds > 0))
  fail(`--session-ttl: expected seconds, got ${values["session-ttl"]}`);
const auth = rootToken
  ? {
      rootToken,
      apiKeys: values["api-keys"],
      sessionTtlMs: sessionTtlSeconds === undefined ? undefined : sessionTtlSeconds * 1000,
      clientCertificates: values["client-certificates"],
    }
  : undefined;
if (!auth && (values["api-keys"] || values["client-certificates"]))
  fail("--api-keys and --client-certificates need --root-token (the controller requires ANKA_ROOT_TOKEN)");
if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) fail("--tls-cert and --tls-key go together");
const tls =
  values["tls-cert"] && values["tls-key"]
    ? {
        cert: readFileSync(values["tls-cert"], "utf8"),
        key: readFileSync(values["tls-key"], "utf8"),
        ca: values["tls-ca"] ? readFileSync(values["tls-ca"], "utf8") : undefined,
      }
    : undefined;

const controllerVersion = values["controller-version"];
const emulator = await startControllerEmulator({
  host: values.host,
  port,
  timing,
  seed,
  auth,
  tls,
  controllerVersion,
}).catch((error: Error) => fail(error.message));
console.log(
  `Anka controller emulator listening on ${emulator.url} (timing: ${values.timing}, controller ${controllerBehaviour(controllerVersion).version})`,
);
console.log(`Admin: ${emulator.url}/_emulator/requests, /_emulator/instances, /_emulator/faults`);
if (auth) {
  const methods = ["root token", auth.apiKeys && "UAK", auth.clientCertificates && "client certificate"];
  console.log(`Authentication on: ${methods.filter(Boolean).join(", ")}`);
}

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
