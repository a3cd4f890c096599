import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AzureDevOpsClient } from "../../src/azdo/index.ts";
import { preregisterAgent } from "../../src/core/index.ts";
import { createJsonLogger, parsePoolConfig, SecretSet, startPoolService } from "../../src/pool/index.ts";
import { patFormsIn } from "../helpers/vm-scan.ts";
import { PAT, POOL, startWorld, type World } from "../helpers/world.ts";

/**
 * The pool service with agent.registration `preregistered` (contract §6), over real HTTP against
 * both emulators, the real startup script in the sandbox shell: it registers each VM's agent
 * itself, the VM never gets the PAT, and an agent registered for a VM that never started (the
 * service died in between) is found and removed.
 */
async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("pool service with pre-registered agents", () => {
  let world: World;
  const logs: string[] = [];
  before(async () => {
    world = await startWorld({ azdo: { rejectUnsatisfiable: true, offlineAfterMs: 10_000 } });
  });
  after(() => world.close());

  function serve() {
    const config = parsePoolConfig(
      [
        `controller: { url: "${world.controller.url}" }`,
        `azureDevOps: { url: "${world.azdo.url}", token: "\${AZP_TOKEN}", pool: ${POOL} }`,
        "pollSeconds: 0.1",
        "agentTimeoutMinutes: 0.1",
        "startTimeoutMinutes: 1",
        "classes:",
        "  - { name: sonoma, template: sonoma-14, tag: base, max: 2 }",
      ].join("\n"),
      { AZP_TOKEN: PAT },
    );
    // The config file's agent.registration belongs to the configuration schema; set here in code.
    config.connection.agent.registration = "preregistered";
    const secrets = new SecretSet();
    const stop = new AbortController();
    const log = createJsonLogger({ level: "debug", secrets, write: (line) => logs.push(line) });
    return startPoolService(config, { signal: stop.signal, log, secrets }).then((handle) => ({
      handle,
      stop: async () => {
        stop.abort();
        await handle.done;
      },
    }));
  }

  test("a queued job runs on a VM whose agent the service registered; the VM never sees the PAT", async () => {
    const service = await serve();
    try {
      await until("the placeholder exists", () =>
        world.azdo.agents(POOL).some((a) => a.name === "anka-placeholder-sonoma"),
      );
      const job = world.azdo.queueJob(POOL, ["anka-template -equals sonoma-14"], { durationMs: 200 });
      await until("the job ran", () => world.azdo.job(job.requestId)?.result !== undefined);
      assert.equal(world.azdo.job(job.requestId)?.result, "succeeded");
      const ranOn = world.azdo.job(job.requestId)?.reservedAgent?.name ?? "";
      assert.match(ranOn, /^anka-sonoma-[0-9a-f]{8}$/);

      const starts = world.controller.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/vm");
      assert.equal(starts.length, 1);
      const script = Buffer.from((starts[0]?.body as { startup_script: string }).startup_script, "base64");
      assert.match(script.toString(), /ANKA_AZP_REGISTRATION='preregistered'/);
      assert.deepEqual(
        [
          ...patFormsIn("the start request", JSON.stringify(starts[0])),
          ...patFormsIn("the script", script.toString()),
        ],
        [],
      );
      await until("the VM and its agent are gone", () => {
        const left = world.leftovers();
        return left.instances === 0 && left.agents.length === 1;
      });
    } finally {
      await service.stop();
    }
    assert.deepEqual(patFormsIn("the service's log", logs.join("\n")), []);
  });

  test("an agent registered for a VM that never started is found and removed after a restart", async () => {
    // What a service that died between registering and the start request leaves behind.
    const azdo = new AzureDevOpsClient({ organizationUrl: world.azdo.url, pat: PAT });
    const pool = await azdo.findPool(POOL);
    await preregisterAgent(azdo, {
      pool,
      agentName: "anka-sonoma-0ddba11",
      agentIdentifier: "sonoma-0ddba11",
      agentVersion: "4.264.2",
      arch: "arm64",
      extraCapabilities: { "anka-class": "sonoma", "anka-template": "sonoma-14" },
    });
    azdo.close();
    assert.ok(world.azdo.agents(POOL).some((a) => a.name === "anka-sonoma-0ddba11"));
    const service = await serve();
    try {
      await until("the orphaned agent is removed", () =>
        world.azdo.agents(POOL).every((a) => a.name !== "anka-sonoma-0ddba11"),
      );
      assert.equal(world.controller.liveInstances(), 0, "no VM was started for it");
    } finally {
      await service.stop();
    }
  });
});
