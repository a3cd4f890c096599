/**
 * Load (issue "Prove it survives"): N pipelines at once against both emulators, each one as a real
 * pipeline runs: Start through the core flow, a build job queued with the demand
 * `ANKA_AGENT_IDENTIFIER -equals <id>` that the VM's agent picks up, then Terminate. The controller
 * has fewer node slots than pipelines, so most instances queue in Scheduling.
 *
 * The VMs: running the startup script for real costs a shell, curl, tar and two node processes per
 * VM, far too much for 200 VMs on a 2-core machine (it would measure the machine, not the client).
 * So `realAgents` VMs run the real script in the sandbox, and the others the light script runner
 * (emulator/light-runner.ts), which registers the agent and runs the stand-in agent's listener
 * in-process: Azure DevOps sees the same registrations, sessions, long polls and job requests.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { startWorld } from "../emulator/world.ts";
import { lightScriptRunner } from "../emulator/light-runner.ts";
import type { ScriptRunner } from "../emulator/controller/index.ts";
import {
  openConnection,
  startInstance,
  terminateInstance,
  silentLogger,
  type FlowContext,
} from "../src/core/index.ts";
import { seedWithSlots } from "./controller.ts";
import { median, percentile, round } from "./stats.ts";

export interface LoadOptions {
  pipelines: number;
  /** Node slots in all (nodes of two slots each). */
  slots: number;
  /** VMs whose startup script runs for real in the sandbox; the others use the light runner. */
  realAgents: number;
  /** The waiter's poll interval (the tasks' Anka.PollIntervalSeconds). */
  pollIntervalMs: number;
  /** The waiter's backoff while queued; "off" polls at the same interval throughout. */
  backoff: { afterMs: number; maxIntervalMs: number } | "off";
  /** How long each build job runs on its VM. */
  jobMs: number;
  /** PAT of the emulated organization. */
  pat: string;
}

export interface LoadFigures {
  pipelines: number;
  nodeSlots: number;
  realAgents: number;
  finished: number;
  failed: number;
  firstErrors: string[];
  wallSeconds: number;
  leakedInstances: number;
  leakedAgents: number;
  /** How late this process's event loop ran (the emulators, the clients and the light agents share it). */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Per pipeline, seconds: Start (queueing included), the build job from queued to done, Terminate. */
  phaseSeconds: Record<"start" | "job" | "terminate", { median: number; p95: number }>;
  controllerRequests: number;
  peakControllerRequestsPerSecond: number;
  /** While an instance waited for a slot (Scheduling, no node yet). */
  queued: {
    instances: number;
    meanQueuedSeconds: number;
    maxQueuedSeconds: number;
    /** GET /api/v1/vm?id= of a queued instance per second of its queueing, over all queued time. */
    requestsPerSecondPerInstance: number;
  };
  pollIntervalMs: number;
  backoff: LoadOptions["backoff"];
}

const POOL = "Anka";

export async function loadFigures(options: LoadOptions): Promise<LoadFigures> {
  const light = lightScriptRunner();
  // The first `realAgents` VMs run the real script in the world's sandbox, the others the light runner.
  const vms: { sandbox?: ScriptRunner; real: number } = { real: 0 };
  const runner: ScriptRunner = (ctx) => {
    if (vms.real < options.realAgents && vms.sandbox) {
      vms.real++;
      return vms.sandbox(ctx);
    }
    return light(ctx);
  };
  const world = await startWorld({
    pat: options.pat,
    pool: POOL,
    controller: {
      seed: seedWithSlots(Math.ceil(options.slots / 2), 2),
      scriptRunner: runner,
    },
    // The service waits minutes before it calls an agent offline; the emulator's 2 s would turn a
    // busy moment of this one process (200 pipelines and their agents) into failed jobs.
    azdo: { offlineAfterMs: 15_000 },
  });
  vms.sandbox = world.sandbox;
  const { controller, azdo } = world;

  // When each instance got its node: sampled from the controller's own view.
  const createdAt = new Map<string, number>();
  const leftQueueAt = new Map<string, number>();
  const sampler = setInterval(() => {
    const now = Date.now();
    for (const view of controller.instances()) {
      if (!createdAt.has(view.instance_id)) createdAt.set(view.instance_id, Date.parse(view.cr_time));
      if (!leftQueueAt.has(view.instance_id) && (view.node_id || view.instance_state !== "Scheduling"))
        leftQueueAt.set(view.instance_id, now);
    }
  }, 50);

  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const began = Date.now();
  const errors: string[] = [];
  const phases = { start: [] as number[], job: [] as number[], terminate: [] as number[] };
  let finished = 0;
  await Promise.all(
    Array.from({ length: options.pipelines }, async (_, n) => {
      const id = `load-${n}`;
      // Each pipeline is its own task process in reality: its own connection.
      const connection = openConnection(
        {
          controllerUrl: controller.url,
          auth: { kind: "none" },
          retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 },
          agent: { pool: POOL, azureDevOpsUrl: azdo.url, pat: options.pat },
        },
        silentLogger,
        () => {},
      );
      const ctx: FlowContext = {
        anka: connection.anka,
        azdo: connection.azdo,
        agent: connection.agent,
        log: silentLogger,
        pollIntervalMs: options.pollIntervalMs,
        waitBackoff:
          options.backoff === "off"
            ? { afterMs: Number.POSITIVE_INFINITY, maxIntervalMs: options.pollIntervalMs }
            : options.backoff,
      };
      // Start; the build job on the VM's agent; Terminate with condition always().
      let instanceId = "";
      let failure: string | undefined;
      const t0 = Date.now();
      try {
        const started = await startInstance(
          {
            template: "sonoma-14",
            tag: "base",
            agentIdentifier: id,
            startTimeoutMs: 600_000,
            agentTimeoutMs: 60_000,
            waitForAgent: true,
            keepInstanceOnFailure: false,
          },
          ctx,
        );
        instanceId = started.instanceId;
        phases.start.push(Date.now() - t0);
        const t1 = Date.now();
        const job = azdo.queueJob(POOL, [`ANKA_AGENT_IDENTIFIER -equals ${id}`], {
          durationMs: options.jobMs,
          name: `build ${id}`,
        });
        for (;;) {
          const seen = azdo.job(job.requestId);
          if (seen?.result) {
            if (seen.result !== "succeeded")
              throw new Error(`job ${job.requestId} ${seen.result}: ${seen.statusMessage ?? ""}`);
            if (seen.reservedAgent?.name !== started.agentName)
              throw new Error(`job ran on ${seen.reservedAgent?.name}, not ${started.agentName}`);
            break;
          }
          await sleep(100);
        }
        phases.job.push(Date.now() - t1);
      } catch (error) {
        failure = (error as Error).message;
      }
      const t2 = Date.now();
      try {
        await terminateInstance({ agentIdentifier: id, instanceId, removeAgent: true }, ctx);
        phases.terminate.push(Date.now() - t2);
      } catch (error) {
        failure ??= `terminate: ${(error as Error).message}`;
      } finally {
        connection.close();
      }
      if (failure) errors.push(`${id}: ${failure}`);
      else finished++;
    }),
  );
  const wallSeconds = (Date.now() - began) / 1000;
  clearInterval(sampler);
  lag.disable();

  // Terminating ends on its own; anything live after that was leaked.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const left = world.leftovers();
    if (left.instances === 0 && left.agents.length === 0) break;
    await sleep(100);
  }
  const left = world.leftovers();

  let queuedMs = 0;
  let queuedPolls = 0;
  const queuedSeconds: number[] = [];
  for (const [instanceId, created] of createdAt) {
    const leftQueue = leftQueueAt.get(instanceId);
    if (leftQueue === undefined) continue;
    const ms = leftQueue - created;
    // Only instances that really waited for a slot (longer than a few polls).
    if (ms < 4 * options.pollIntervalMs) continue;
    queuedSeconds.push(ms / 1000);
    queuedMs += ms;
    queuedPolls += controller.requests.filter(
      (r) =>
        r.method === "GET" &&
        r.path === "/api/v1/vm" &&
        r.query.id === instanceId &&
        r.time >= created &&
        r.time <= leftQueue,
    ).length;
  }

  const figures: LoadFigures = {
    pipelines: options.pipelines,
    nodeSlots: options.slots,
    realAgents: vms.real,
    finished,
    failed: errors.length,
    firstErrors: errors.slice(0, 5),
    wallSeconds: round(wallSeconds, 1),
    leakedInstances: left.instances,
    leakedAgents: left.agents.length,
    eventLoopDelayMs: {
      p50: round(lag.percentile(50) / 1e6, 1),
      p99: round(lag.percentile(99) / 1e6, 1),
      max: round(lag.max / 1e6, 1),
    },
    phaseSeconds: {
      start: spread(phases.start),
      job: spread(phases.job),
      terminate: spread(phases.terminate),
    },
    controllerRequests: controller.requests.length,
    peakControllerRequestsPerSecond: peakPerSecond(controller.requests.map((r) => r.time)),
    queued: {
      instances: queuedSeconds.length,
      meanQueuedSeconds: round(
        queuedSeconds.reduce((a, b) => a + b, 0) / Math.max(1, queuedSeconds.length),
        1,
      ),
      maxQueuedSeconds: round(Math.max(0, ...queuedSeconds), 1),
      requestsPerSecondPerInstance: round(queuedPolls / Math.max(0.001, queuedMs / 1000), 2),
    },
    pollIntervalMs: options.pollIntervalMs,
    backoff: options.backoff,
  };
  await light.cleanup();
  await world.close();
  return figures;
}

function spread(ms: number[]): { median: number; p95: number } {
  return { median: round(median(ms) / 1000, 2), p95: round(percentile(ms, 95) / 1000, 2) };
}

function peakPerSecond(times: number[]): number {
  const buckets = new Map<number, number>();
  for (const time of times) {
    const second = Math.floor(time / 1000);
    buckets.set(second, (buckets.get(second) ?? 0) + 1);
  }
  return Math.max(0, ...buckets.values());
}
