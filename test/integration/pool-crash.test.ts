import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { lightScriptRunner } from "../../emulator/light-runner.ts";
import { seedWithSlots } from "../../bench/controller.ts";
import { PAT, POOL, startWorld, type World } from "../helpers/world.ts";

/**
 * Issue 14 item 3: the pool service killed with SIGKILL at random moments of a burst (before its
 * first pass, mid-start, mid-terminate, while agents register), each time restarted as a fresh
 * process. The service keeps nothing of its own, so the next one must see every VM, start none
 * twice, and clean up what the killed one left half done.
 *
 * The kill points come from a seeded generator: a failure names the seed, and setting
 * POOL_CRASH_SEED replays the same sequence.
 */
const SEED = Number(process.env.POOL_CRASH_SEED ?? 20261208);
const KILLS = 24;
const JOBS = 48;
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** mulberry32: small, seedable, good enough to spread kill points. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function writeConfig(world: World, folder: string): string {
  const file = path.join(folder, "pool.yml");
  writeFileSync(
    file,
    [
      `controller: { url: "${world.controller.url}" }`,
      `azureDevOps: { url: "${world.azdo.url}", token: "\${AZP_TOKEN}", pool: ${POOL} }`,
      "pollSeconds: 0.1",
      "agentTimeoutMinutes: 0.25",
      "startTimeoutMinutes: 1",
      "classes:",
      "  - { name: sonoma, template: sonoma-14, tag: base, max: 8 }",
      "  - { name: sequoia, template: sequoia-15, max: 8 }",
    ].join("\n"),
  );
  return file;
}

function spawnService(configFile: string, output: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/pool/main.ts", "serve", "--config", configFile],
    { cwd: REPO, env: { ...process.env, AZP_TOKEN: PAT }, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  return child;
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.signalCode ?? child.exitCode);
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`seed ${SEED}: timed out waiting until ${what}`);
    await sleep(20);
  }
}

test(`SIGKILL at ${KILLS} seeded random points of a ${JOBS}-job burst: every job served by exactly one VM, nothing left behind`, async () => {
  const runner = lightScriptRunner();
  const world = await startWorld({
    controller: {
      seed: seedWithSlots(4, 10),
      scriptRunner: runner,
      // Slow enough that kills land while instances schedule, boot and register.
      timing: { schedulingMs: 150, bootMs: 300, ipDelayMs: 50, terminatingMs: 150 },
    },
    azdo: { rejectUnsatisfiable: true, offlineAfterMs: 10_000 },
  });
  const folder = mkdtempSync(path.join(os.tmpdir(), "pool-crash-"));
  const output: string[] = [];
  const random = seededRandom(SEED);
  const jobsDone = () => jobs.filter((job) => world.azdo.job(job.requestId)?.result !== undefined).length;
  const jobs: { requestId: number }[] = [];
  let child: ChildProcess | undefined;
  try {
    const config = writeConfig(world, folder);
    // A first life registers the placeholders, so that Azure DevOps queues the burst.
    child = spawnService(config, output);
    await until(
      "the placeholders are registered",
      () => world.azdo.agents(POOL).filter((a) => a.name.startsWith("anka-placeholder-")).length === 2,
      60_000,
    );
    // The burst arrives in waves, so that every kill falls while jobs wait or run.
    const queue = (count: number) => {
      for (let n = 0; n < count; n++) {
        const job = world.azdo.queueJob(
          POOL,
          [`anka-class -equals ${jobs.length % 2 ? "sonoma" : "sequoia"}`],
          {
            durationMs: 3000,
            name: `crash burst ${jobs.length}`,
          },
        );
        assert.equal(job.result, undefined, "the placeholders make every job queue");
        jobs.push(job);
      }
    };
    let duringBurst = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      queue(JOBS / KILLS);
      // From "still loading" to "several passes in": a process takes about a second to load.
      await sleep(Math.round(300 + random() * 2200));
      if (jobsDone() < jobs.length) duringBurst++;
      child.kill("SIGKILL");
      assert.equal(await exited(child), "SIGKILL");
      child = spawnService(config, output);
    }
    assert.ok(
      duringBurst >= 20,
      `seed ${SEED}: only ${duringBurst} of ${KILLS} kills fell while jobs were waiting or running`,
    );
    await until("every job finished", () => jobsDone() === JOBS, 120_000).catch((error: Error) => {
      const waiting = jobs
        .map((job) => world.azdo.job(job.requestId))
        .filter((job) => job?.result === undefined);
      throw new Error(
        `${error.message}; still waiting: ${JSON.stringify(waiting.slice(0, 3))}; live VMs ${world.controller.liveInstances()}; agents ${world.azdo
          .agents(POOL)
          .map((a) => `${a.name}:${a.status}`)
          .join()}; last output: ${output.join("").slice(-3000)}`,
      );
    });
    await until(
      "no VM and no VM agent is left",
      () => {
        const left = world.leftovers();
        return left.instances === 0 && left.agents.every((name) => name.startsWith("anka-placeholder-"));
      },
      60_000,
    );
    child.kill("SIGTERM");
    assert.equal(await exited(child), 0);

    for (const { requestId } of jobs) {
      const job = world.azdo.job(requestId);
      assert.equal(job?.result, "succeeded", `seed ${SEED}: job ${requestId}: ${job?.statusMessage ?? ""}`);
    }
    const starts = world.controller.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/vm");
    // Each start request started one VM (the emulator forgets terminated instances after a while).
    assert.equal(starts.length, JOBS, `seed ${SEED}: ${starts.length} VMs started for ${JOBS} jobs`);
    const text = output.join("");
    assert.ok(!text.includes(PAT), "the PAT never appears in the service's output");
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited(child);
    }
    rmSync(folder, { recursive: true, force: true });
    await world.close();
    await runner.cleanup();
  }
});
