/**
 * Pool service figures (issue "Elastic Anka pool"): how long a queued job waits for an agent, as a
 * ratio to the VM's own start time (its request to its agent online), with free capacity and with
 * standby VMs; and what the service costs the controller and Azure DevOps at steady state.
 *
 * The VMs boot with the demo timing (scheduling, boot and network up take about 3 s, the template
 * is cached on the nodes) and run the light script runner (emulator/light-runner.ts): the agent
 * registers and the stand-in agent's listener runs in-process.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { DEMO_TIMING } from "../emulator/controller/index.ts";
import { lightScriptRunner } from "../emulator/light-runner.ts";
import { startWorld, type World } from "../emulator/world.ts";
import { parsePoolConfig, silentPoolLogger, startPoolService, timeOf } from "../src/pool/index.ts";
import { seedWithSlots } from "./controller.ts";
import { median, percentile, round } from "./stats.ts";

const POOL = "Anka";
const PAT = "bench-pool-pat-51c2d8";

export interface PoolFigures {
  pollSeconds: number;
  freeCapacity: {
    jobs: number;
    /** Job queued -> an agent of the service took it. */
    waitSeconds: { median: number; p95: number };
    /** The VM's own start: start request -> its agent online. */
    vmStartSeconds: { median: number; p95: number };
    /** Per job: wait / start time of the VM that ran it (target <= 1.1). */
    ratio: { median: number; p95: number };
    vmsStarted: number;
  };
  standby: {
    jobs: number;
    standbyVms: number;
    /** Target: under one poll interval. */
    waitSeconds: { median: number; p95: number; max: number };
  };
  steadyState: {
    seconds: number;
    classes: number;
    passes: number;
    controllerRequestsPerSecond: number;
    azureDevOpsRequestsPerSecond: number;
    controllerRequestsPerPass: number;
    azureDevOpsRequestsPerPass: number;
  };
  leftovers: { instances: number; agents: string[] };
}

export async function poolFigures(pollSeconds = 0.25): Promise<PoolFigures> {
  const runner = lightScriptRunner();
  const world = await startWorld({
    pat: PAT,
    pool: POOL,
    controller: {
      seed: seedWithSlots(10, 4),
      scriptRunner: runner,
      timing: { ...DEMO_TIMING, terminatingMs: 200 },
    },
    azdo: { rejectUnsatisfiable: true },
  });
  const firstOnline = new Map<string, number>();
  const created = new Map<string, number>();
  const sampler = setInterval(() => sample(world, firstOnline, created), 10);
  try {
    const freeCapacity = await measureFreeCapacity(world, pollSeconds, firstOnline, created);
    const standby = await measureStandby(world, pollSeconds);
    const steadyState = await measureSteadyState(world, pollSeconds);
    await waitUntil(() => world.leftovers().instances === 0, 20_000);
    return { pollSeconds, freeCapacity, standby, steadyState, leftovers: world.leftovers() };
  } finally {
    clearInterval(sampler);
    await world.close();
    await runner.cleanup();
  }
}

function config(world: World, pollSeconds: number, classes: string) {
  return parsePoolConfig(
    [
      `controller: { url: "${world.controller.url}" }`,
      `azureDevOps: { url: "${world.azdo.url}", token: "\${PAT}", pool: ${POOL} }`,
      `pollSeconds: ${pollSeconds}`,
      "classes:",
      classes,
    ].join("\n"),
    { PAT },
  );
}

async function serve(world: World, pollSeconds: number, classes: string) {
  const stop = new AbortController();
  let passes = 0;
  const handle = await startPoolService(config(world, pollSeconds, classes), {
    signal: stop.signal,
    log: silentPoolLogger,
    onPass: () => passes++,
  });
  return {
    passes: () => passes,
    stop: async () => {
      stop.abort();
      await handle.done;
    },
  };
}

/** When each agent first came online, and when each instance was requested (by its agent's name). */
export function sample(world: World, firstOnline: Map<string, number>, created: Map<string, number>): void {
  for (const agent of world.azdo.agents(POOL)) {
    if (agent.status === "online" && !firstOnline.has(agent.name))
      firstOnline.set(agent.name, Date.parse(agent.statusChangedOn));
  }
  for (const instance of world.controller.instances()) {
    const agent = instance.metadata?.azdo_agent;
    if (typeof agent === "string" && !created.has(agent)) created.set(agent, timeOf(instance.cr_time) ?? NaN);
  }
}

/** Per finished job: its wait (queued to assigned), the own start of the VM that ran it, their ratio. */
export function waitsAndStarts(
  world: World,
  jobs: { requestId: number }[],
  firstOnline: Map<string, number>,
  created: Map<string, number>,
): { waits: number[]; starts: number[]; ratios: number[] } {
  const waits: number[] = [];
  const starts: number[] = [];
  const ratios: number[] = [];
  for (const { requestId } of jobs) {
    const job = world.azdo.job(requestId);
    const agent = job?.reservedAgent?.name ?? "";
    const wait = Date.parse(job?.assignTime ?? "") - Date.parse(job?.queueTime ?? "");
    const start = (firstOnline.get(agent) ?? NaN) - (created.get(agent) ?? NaN);
    if (!Number.isFinite(wait) || !Number.isFinite(start) || start <= 0) continue;
    waits.push(wait / 1000);
    starts.push(start / 1000);
    ratios.push(wait / start);
  }
  return { waits, starts, ratios };
}

async function measureFreeCapacity(
  world: World,
  pollSeconds: number,
  firstOnline: Map<string, number>,
  created: Map<string, number>,
): Promise<PoolFigures["freeCapacity"]> {
  const service = await serve(
    world,
    pollSeconds,
    "  - { name: free, template: sonoma-14, tag: base, max: 40 }",
  );
  try {
    await waitUntil(() => world.azdo.agents(POOL).some((a) => a.name === "anka-placeholder-free"), 10_000);
    const startsBefore = startRequests(world);
    const jobs: { requestId: number }[] = [];
    // Jobs arrive at random moments, so that they fall anywhere in the poll interval.
    for (let n = 0; n < 20; n++) {
      jobs.push(world.azdo.queueJob(POOL, ["anka-class -equals free"], { durationMs: 500 }));
      await sleep(150 + Math.random() * 300);
    }
    await waitUntil(() => jobs.every((job) => world.azdo.job(job.requestId)?.result !== undefined), 60_000);
    const { waits, starts, ratios } = waitsAndStarts(world, jobs, firstOnline, created);
    return {
      jobs: jobs.length,
      waitSeconds: summary(waits),
      vmStartSeconds: summary(starts),
      ratio: { median: round(median(ratios), 3), p95: round(percentile(ratios, 95), 3) },
      vmsStarted: startRequests(world) - startsBefore,
    };
  } finally {
    await service.stop();
  }
}

async function measureStandby(world: World, pollSeconds: number): Promise<PoolFigures["standby"]> {
  const standbyVms = 3;
  const service = await serve(
    world,
    pollSeconds,
    `  - { name: warm, template: sonoma-14, tag: base, max: 10, standby: ${standbyVms} }`,
  );
  const idle = () =>
    world.azdo
      .agents(POOL)
      .filter((a) => a.name.startsWith("anka-warm-") && a.status === "online" && !a.assignedRequest).length;
  try {
    await waitUntil(() => idle() === standbyVms, 30_000);
    const jobs: { requestId: number }[] = [];
    for (let n = 0; n < 12; n++) {
      await waitUntil(() => idle() > 0, 30_000);
      jobs.push(world.azdo.queueJob(POOL, ["anka-class -equals warm"], { durationMs: 200 }));
      await sleep(700 + Math.random() * 600);
    }
    await waitUntil(() => jobs.every((job) => world.azdo.job(job.requestId)?.result !== undefined), 60_000);
    const waits = jobs.map(({ requestId }) => {
      const job = world.azdo.job(requestId);
      return (Date.parse(job?.assignTime ?? "") - Date.parse(job?.queueTime ?? "")) / 1000;
    });
    return {
      jobs: jobs.length,
      standbyVms,
      waitSeconds: { ...summary(waits), max: round(Math.max(...waits), 3) },
    };
  } finally {
    await service.stop();
  }
}

async function measureSteadyState(world: World, pollSeconds: number): Promise<PoolFigures["steadyState"]> {
  const classes = [
    "  - { name: warm, template: sonoma-14, tag: base, max: 10, standby: 1, idleMinutes: 60 }",
    "  - { name: cold, template: sequoia-15, max: 10 }",
  ].join("\n");
  const service = await serve(world, pollSeconds, classes);
  try {
    await waitUntil(
      () =>
        world.azdo.agents(POOL).filter((a) => a.name.startsWith("anka-warm-") && a.status === "online")
          .length === 1,
      30_000,
    );
    await sleep(2_000);
    const seconds = 10;
    const controllerBefore = world.controller.requests.length;
    const azdoBefore = serviceRequests(world);
    const passesBefore = service.passes();
    await sleep(seconds * 1000);
    const passes = service.passes() - passesBefore;
    const controller = world.controller.requests.length - controllerBefore;
    const azdo = serviceRequests(world) - azdoBefore;
    return {
      seconds,
      classes: 2,
      passes,
      controllerRequestsPerSecond: round(controller / seconds, 2),
      azureDevOpsRequestsPerSecond: round(azdo / seconds, 2),
      controllerRequestsPerPass: round(controller / passes, 2),
      azureDevOpsRequestsPerPass: round(azdo / passes, 2),
    };
  } finally {
    await service.stop();
    // Leave nothing: a service without classes removes the warm VM and the placeholders.
    const cleanup = await serve(world, pollSeconds, "  - { name: sweep, template: sonoma-14, max: 1 }");
    await waitUntil(() => world.leftovers().instances === 0, 20_000);
    await cleanup.stop();
  }
}

/** Azure DevOps requests the service made (the agents' own traffic has another user agent). */
export function serviceRequests(world: World): number {
  return world.azdo.requests.filter((r) => r.headers["user-agent"] === "anka-azure-pipelines").length;
}

export const startRequests = (world: World) =>
  world.controller.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/vm").length;

export function summary(values: number[]): { median: number; p95: number } {
  return { median: round(median(values), 3), p95: round(percentile(values, 95), 3) };
}

export async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("pool bench: a phase did not finish in time");
    await sleep(20);
  }
}
