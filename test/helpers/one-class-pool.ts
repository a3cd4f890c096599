import { createJsonLogger, parsePoolConfig, SecretSet, startPoolService } from "../../src/pool/index.ts";
import { PAT, POOL, type World } from "./world.ts";

/**
 * The pool service against a world with one class, `sonoma` (template sonoma-14, at most one VM),
 * polling every 0.2 s, its metrics on a free port, and its JSON log lines kept for the test.
 */
export async function serveOneClassPool(world: World) {
  const logs: string[] = [];
  const secrets = new SecretSet();
  const stop = new AbortController();
  const config = parsePoolConfig(
    [
      `controller: { url: "${world.controller.url}" }`,
      `azureDevOps: { url: "${world.azdo.url}", token: "\${AZP_TOKEN}", pool: ${POOL} }`,
      "pollSeconds: 0.2",
      "agentTimeoutMinutes: 0.5",
      "startTimeoutMinutes: 1",
      "http: { port: 0 }",
      "classes:",
      "  - { name: sonoma, template: sonoma-14, tag: base, max: 1, idleMinutes: 0.02 }",
    ].join("\n"),
    { AZP_TOKEN: PAT },
  );
  const handle = await startPoolService(config, {
    signal: stop.signal,
    secrets,
    log: createJsonLogger({ level: "debug", secrets, write: (line) => logs.push(line) }),
  });
  return {
    handle,
    logs,
    stop: async () => {
      stop.abort();
      await handle.done;
    },
  };
}
