/**
 * `npm run demo:pool`: the elastic pool service on this machine, nothing to set up. It starts an
 * Anka controller emulator and an Azure DevOps emulator, runs the pool service with two classes
 * (service hooks on), queues a burst of jobs over both, and shows the queue and the VMs as they
 * start, serve their one job and go. The status page's URL is printed while it runs. It ends
 * with the queue times, the waste and what was left behind.
 *
 * DEMO_POOL_JOBS sets the burst's size (default 24); DEMO_POOL_PORT the status page's port
 * (default any free one).
 */
import { DEMO_TIMING } from "../emulator/controller/index.ts";
import { lightScriptRunner } from "../emulator/light-runner.ts";
import { startWorld } from "../emulator/world.ts";
import { parsePoolConfig, silentPoolLogger, startPoolService } from "../src/pool/index.ts";
import type { PoolStatus } from "../src/pool/status.ts";
import { seedWithSlots } from "../bench/controller.ts";
import { median, percentile, round } from "../bench/stats.ts";

const POOL = "Anka";
const PAT = "demo-pool-pat-5e0c2b";
const HOOKS_PASSWORD = "demo-pool-hooks-secret-41d7";
const JOBS = Number(process.env.DEMO_POOL_JOBS ?? 24);
const began = Date.now();
const say = (line: string) =>
  console.log(`[${((Date.now() - began) / 1000).toFixed(1).padStart(5)}s] ${line}`);

const runner = lightScriptRunner();
const world = await startWorld({
  pat: PAT,
  pool: POOL,
  controller: { seed: seedWithSlots(4, 2), scriptRunner: runner, timing: DEMO_TIMING },
  azdo: { rejectUnsatisfiable: true },
});
say(`Anka controller emulator at ${world.controller.url}: 4 nodes, 2 VM slots each`);
say(`Azure DevOps emulator at ${world.azdo.url}, agent pool "${POOL}"`);
const config = parsePoolConfig(
  [
    `controller: { url: "${world.controller.url}" }`,
    `azureDevOps: { url: "${world.azdo.url}", token: "\${PAT}", pool: ${POOL} }`,
    "pollSeconds: 5",
    `http: { port: ${Number(process.env.DEMO_POOL_PORT ?? 0)} }`,
    'hooks: { password: "${HOOKS_PASSWORD}" }',
    "classes:",
    "  - { name: sonoma, template: sonoma-14, tag: base, max: 4 }",
    "  - { name: sequoia, template: sequoia-15, max: 4 }",
  ].join("\n"),
  { PAT, HOOKS_PASSWORD },
  "demo-pool.yml",
);
const stop = new AbortController();
const service = await startPoolService(config, { signal: stop.signal, log: silentPoolLogger });
const statusUrl = `${service.httpUrl}/`;
say(`Pool service running: open its status page at ${statusUrl}`);
world.azdo.subscribeServiceHook({
  url: `${service.httpUrl}/hooks`,
  username: "anka-pool",
  password: HOOKS_PASSWORD,
});
say("Service hook subscribed: Azure DevOps calls the service as jobs are queued, start and finish");

const status = async () => (await (await fetch(`${service.httpUrl}/status`)).json()) as PoolStatus;
try {
  await until(
    () => world.azdo.agents(POOL).filter((a) => a.name.startsWith("anka-placeholder-")).length === 2,
  );
  say(
    "Placeholder agents registered: anka-placeholder-sonoma, anka-placeholder-sequoia (offline, never run)",
  );
  const startsBefore = startRequests();
  const jobs = Array.from({ length: JOBS }, (_, n) =>
    world.azdo.queueJob(POOL, [n % 2 ? "anka-class -equals sonoma" : "anka-template -equals sequoia-15"], {
      durationMs: 3_000,
      name: `build ${n + 1}`,
    }),
  );
  say(`Queued a burst of ${JOBS} jobs over both classes`);
  let last = "";
  while (!jobs.every((job) => world.azdo.job(job.requestId)?.result !== undefined)) {
    const now = await status();
    const line = now.classes
      .map(
        (c) =>
          `${c.name}: ${c.queued} queued, ${c.vms.starting} starting, ${c.vms.busy} busy, ${c.vms.finishing} finishing`,
      )
      .join(" | ");
    const done = jobs.filter((job) => world.azdo.job(job.requestId)?.result !== undefined).length;
    if (line !== last) say(`${line} | ${done}/${JOBS} done`);
    last = line;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  await until(() => {
    const left = world.leftovers();
    return left.instances === 0 && left.agents.every((name) => name.startsWith("anka-placeholder-"));
  }, 60_000).catch(() => {});
  const waits = jobs.map(({ requestId }) => {
    const job = world.azdo.job(requestId);
    return (Date.parse(job?.assignTime ?? "") - Date.parse(job?.queueTime ?? "")) / 1000;
  });
  const succeeded = jobs.filter((job) => world.azdo.job(job.requestId)?.result === "succeeded").length;
  const vms = startRequests() - startsBefore;
  const left = world.leftovers();
  const agentsLeft = left.agents.filter((name) => !name.startsWith("anka-placeholder-")).length;
  console.log("");
  console.log("Summary");
  console.log(`  jobs: ${succeeded} of ${JOBS} succeeded, on ${vms} VMs (one each)`);
  console.log(
    `  queued to agent: median ${round(median(waits), 1)} s, p95 ${round(percentile(waits, 95), 1)} s (a VM takes about ${round((DEMO_TIMING.schedulingMs + DEMO_TIMING.bootMs) / 1000, 1)} s to boot here)`,
  );
  console.log(
    `  waste: ${round((100 * Math.max(0, vms - succeeded)) / JOBS, 1)} VMs without a job per 100 jobs`,
  );
  console.log(
    `  left behind: ${left.instances} VMs, ${agentsLeft} agents (the 2 placeholders stay, by design)`,
  );
  process.exitCode = succeeded === JOBS && left.instances === 0 && agentsLeft === 0 ? 0 : 1;
} finally {
  stop.abort();
  await service.done;
  await world.close();
  await runner.cleanup();
}

function startRequests(): number {
  return world.controller.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/vm").length;
}

async function until(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("demo:pool: a step did not finish in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
