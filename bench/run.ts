/**
 * `npm run bench`: measures, prints a report and writes bench/results.json. A benchmark, not a
 * test: it asserts nothing, it reports figures against the targets the issues set.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { concurrentCycles, waiterLatency } from "./controller.ts";
import { loadFigures, type LoadFigures } from "./load.ts";
import { poolFigures } from "./pool.ts";
import { FULL_FLEET, QUARTER_FLEET, fleetFigures, type FleetLoad } from "./pool-fleet.ts";
import { registrationFigures } from "./registration.ts";
import { taskFigures } from "./tasks.ts";

const results: Record<string, unknown> = {
  measuredAt: new Date().toISOString(),
  machine: `${process.platform} ${process.arch}, node ${process.version}`,
};

/** The pool service at fleet scale, hooks on and off (issue 14 item 7). */
async function poolFleet(load: FleetLoad): Promise<Record<string, unknown>> {
  console.log(
    `Pool fleet: ${load.nodes * load.slotsPerNode} slots over ${load.nodes} nodes, ${load.jobs} jobs over 4 classes in ${load.bursts} bursts, hooks on, then off`,
  );
  const withHooks = await fleetFigures(load, true);
  console.log(JSON.stringify(withHooks, null, 2));
  const withoutHooks = await fleetFigures(load, false);
  console.log(JSON.stringify(withoutHooks, null, 2));
  return {
    withHooks,
    withoutHooks,
    ratios:
      "ratio: queued-to-assigned over the VM's own start, every job (with more jobs than slots, mostly " +
      "waiting for a slot to come free); freeCapacity.ratio: the same over the jobs that arrived while a " +
      "slot was free for them, which the 1.05 target is about",
    targets: {
      ratioMedianWithHooksAtMost: 1.05,
      wastePer100JobsWithoutStandby: 0,
      planCpuMsAtMost: 50,
      servicePeakRssMiBAtMost: 200,
      leftovers: 0,
    },
  };
}

// `npm run bench -- --pool-fleet[=quarter]`: only the fleet run, merged into the existing results.
const fleetOnly = process.argv.find((arg) => arg.startsWith("--pool-fleet"));
if (fleetOnly) {
  const file = new URL("./results.json", import.meta.url);
  const previous = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  const load = fleetOnly === "--pool-fleet=quarter" ? QUARTER_FLEET : FULL_FLEET;
  previous.poolFleet = { measuredAt: new Date().toISOString(), ...(await poolFleet(load)) };
  writeFileSync(file, `${JSON.stringify(previous, null, 2)}\n`);
  console.log("wrote bench/results.json (poolFleet)");
  process.exit(0);
}

console.log("Controller client: 200 concurrent start / Started / terminate cycles, 20 node slots");
const cycles = await concurrentCycles(200, 20, 100);
console.table(cycles);
results.concurrentCycles = { ...cycles, targetErrors: 0 };

console.log("Waiter: detection latency and request rate (poll interval 1000 ms, 40 instances on 4 slots)");
const waiter = await waiterLatency(40, 1000);
console.table({ ...waiter, detectionLatencyMs: JSON.stringify(waiter.detectionLatencyMs) });
results.waiter = {
  ...waiter,
  targets: {
    medianLatencyAtMostMs: waiter.pollIntervalMs,
    requestsPerWaitedMinuteAtMost: waiter.budgetPerWaitedMinute,
  },
};

console.log("Tasks: vsix and bundle sizes, cold start (node start to first HTTP request, 15 runs each)");
const tasks = await taskFigures(15);
console.log(JSON.stringify(tasks, null, 2));
results.tasks = { ...tasks, targets: { vsixKiBAtMost: 1536, coldStartMedianMsAtMost: 150 } };

// Time scaled down 25 times: the tasks poll every 5 s, back off after 60 s unchanged, up to every 30 s.
const SCALE = 25;
const scaled = {
  pollIntervalMs: 5_000 / SCALE,
  backoff: { afterMs: 60_000 / SCALE, maxIntervalMs: 30_000 / SCALE },
};
const load = (backoff: boolean): Promise<LoadFigures> =>
  loadFigures({
    pipelines: 200,
    slots: 20,
    realAgents: 4,
    pollIntervalMs: scaled.pollIntervalMs,
    backoff: backoff ? scaled.backoff : "off",
    // A 50 s build, scaled: long enough that most instances queue past the backoff threshold.
    jobMs: 50_000 / SCALE,
    pat: "bench-pat-7f3c9a1e5b",
  });
console.log(
  "Load: 200 pipelines at once (Start, a build job on the VM's agent, Terminate), 20 node slots, " +
    `4 VMs with the real startup script, time scaled down ${SCALE} times`,
);
const withBackoff = await load(true);
console.log(JSON.stringify(withBackoff, null, 2));
console.log("Load again with the waiter's backoff off (it polls every interval while queued)");
const withoutBackoff = await load(false);
console.log(JSON.stringify(withoutBackoff, null, 2));
results.load = {
  timeScale: `1/${SCALE}: poll ${scaled.pollIntervalMs} ms, backoff after ${scaled.backoff.afterMs} ms up to every ${scaled.backoff.maxIntervalMs} ms`,
  withBackoff,
  withoutBackoff,
  queuedRequestsPerMinutePerInstanceInProduction: {
    withBackoff: Math.round((withBackoff.queued.requestsPerSecondPerInstance / SCALE) * 60 * 10) / 10,
    withoutBackoff: Math.round((withoutBackoff.queued.requestsPerSecondPerInstance / SCALE) * 60 * 10) / 10,
  },
  targets: { finished: 200, leakedInstances: 0, leakedAgents: 0 },
};

console.log("Fault matrix: test/integration/fault-matrix.test.ts with WRITE_FAULT_MATRIX=1");
const matrixRun = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=dot", "test/integration/fault-matrix.test.ts"],
  { cwd: new URL("..", import.meta.url), env: { ...process.env, WRITE_FAULT_MATRIX: "1" }, stdio: "inherit" },
);
const matrix = JSON.parse(readFileSync(new URL("./fault-matrix.json", import.meta.url), "utf8")) as {
  cases: { ok: boolean }[];
  skipped: unknown[];
};
results.faultMatrix = {
  file: "bench/fault-matrix.json",
  cases: matrix.cases.length,
  asExpected: matrix.cases.filter((entry) => entry.ok).length,
  skipped: matrix.skipped.length,
  exitCode: matrixRun.status,
};

console.log(
  "Pool service: queued job to agent, as a ratio to the VM's own start; standby; steady-state request rates",
);
const pool = await poolFigures(0.25);
console.log(JSON.stringify(pool, null, 2));
results.pool = {
  ...pool,
  targets: { freeCapacityRatioMedianAtMost: 1.1, standbyWaitSecondsAtMost: pool.pollSeconds },
};

console.log(
  "Agent registration: start time (call to agent online) and requests per start, inVm vs preregistered, 8 runs each",
);
const registration = await registrationFigures(8);
console.log(JSON.stringify(registration, null, 2));
results.registration = { ...registration, target: "start times equal within noise" };

results.poolFleet = await poolFleet(FULL_FLEET);

writeFileSync(new URL("./results.json", import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log("wrote bench/results.json");
