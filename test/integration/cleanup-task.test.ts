import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AnkaClient } from "../../src/anka/index.ts";
import { runTask, taskEnvironment } from "../../emulator/task-host.ts";
import { POOL, startWorld, taskFolder, type World } from "../helpers/world.ts";

/**
 * AnkaCleanup@1 from the vsix, as a scheduled pipeline runs it: leftovers of a run whose
 * Terminate never ran (the VM alive, its agent gone offline) and an orphan agent are listed by a
 * dry run, then removed; a young VM and VMs of other tools are kept.
 */
let world: World;
let clockOffsetMs = 0;
before(async () => {
  world = await startWorld({ controller: { now: () => Date.now() + clockOffsetMs } });
});
after(() => world.close());

test("dry run lists, then a run removes old leftovers and keeps the young and the foreign", async () => {
  const start = await taskFolder("AnkaStartInstance");
  const cleanup = await taskFolder("AnkaCleanup");
  const env = (inputs: Record<string, string>, buildId: string) =>
    taskEnvironment({ inputs, endpoint: world.endpoint(), variables: world.variables(buildId) });

  // A run three hours ago whose agent took its one job and went offline, and whose Terminate never ran.
  clockOffsetMs = -3 * 3600_000;
  const old = await runTask(
    start,
    env({ template: "sonoma-14", tag: "base", agentIdentifier: "abandoned" }, "700"),
  );
  assert.equal(old.result, "Succeeded", old.stdout);
  clockOffsetMs = 0;
  const job = world.azdo.queueJob(POOL, ["ANKA_AGENT_IDENTIFIER -equals abandoned"], { durationMs: 50 });
  await until(
    () =>
      world.azdo.agents(POOL).some((a) => a.name === "anka-abandoned" && a.status === "offline") &&
      world.azdo.job(job.requestId)?.result !== undefined,
  );

  // A VM started by something else on the same controller, and a young run of ours.
  const anka = new AnkaClient({ url: world.controller.url });
  const foreign = await anka.startInstance({
    templateId: "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c",
    tag: "base",
    externalId: "jenkins-42",
  });
  const young = await runTask(
    start,
    env({ template: "sonoma-14", tag: "base", agentIdentifier: "young" }, "701"),
  );
  assert.equal(young.result, "Succeeded", young.stdout);

  const dry = await runTask(cleanup, env({ olderThanMinutes: "60", dryRun: "true" }, "800"));
  assert.equal(dry.result, "Succeeded", dry.stdout);
  assert.match(
    dry.stdout,
    new RegExp(`Leftover instance ${old.outputs.AnkaInstanceId} .*agent anka-abandoned offline`),
  );
  assert.match(
    dry.resultMessage,
    /1 leftover instance\(s\) and 0 leftover agent\(s\) found; nothing removed/,
  );
  assert.equal(world.controller.liveInstances(), 3);

  const run = await runTask(cleanup, env({ olderThanMinutes: "60" }, "801"));
  assert.equal(run.result, "Succeeded", run.stdout);
  assert.match(run.resultMessage, /Removed 1 leftover/);
  await until(() => world.controller.liveInstances() === 2);
  const names = world.azdo.agents(POOL).map((a) => a.name);
  assert.deepEqual(names, ["anka-young"]);
  const live = world.controller
    .instances()
    .filter((i) => i.instance_state !== "Terminating" && i.instance_state !== "Terminated")
    .map((i) => i.instance_id)
    .sort();
  assert.deepEqual(live, [foreign, young.outputs.AnkaInstanceId].sort());

  await anka.terminateInstance(foreign);
  anka.close();
  const stop = await runTask(
    await taskFolder("AnkaTerminateInstance"),
    env({ agentIdentifier: "young" }, "701"),
  );
  assert.equal(stop.result, "Succeeded");
});

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}
