import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startTask, taskEnvironment, type TaskRun } from "../../emulator/task-host.ts";
import { secretForms } from "../helpers/secrets.ts";
import { startWorld, taskFolder, type World } from "../helpers/world.ts";

/**
 * Cancellation at every phase, through the built tasks as the agent runs and cancels them
 * (reference azure-pipelines-agent.md §5: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that).
 * Whatever the phase, the task exits within 7.5 s of the first signal, a second signal does not
 * abandon the rollback, and nothing is left. A phase is held open with an emulator fault (a slow
 * answer, an instance stuck in Scheduling) or a startup script that starts no agent. The VMs run
 * the real startup script in the sandbox.
 *
 * tasks-e2e covers SIGTERM while waiting for Started and SIGINT while waiting for the agent.
 */
const AGENT_KILLS_AFTER_MS = 7_500;
/** Rollbacks answer slowly, so that the second signal arrives while one runs. */
const SLOW_DELETE_MS = 800;

type Signal = "SIGINT" | "SIGTERM";
const OTHER: Record<Signal, Signal> = { SIGINT: "SIGTERM", SIGTERM: "SIGINT" };

interface Phase {
  phase: string;
  task: "start" | "terminate";
  /** Holds the phase open; called before the task starts. */
  hold: (world: World, id: string) => void;
  inputs?: Record<string, string>;
  /** True once the task is in the phase. */
  reached: (world: World, stdout: string, since: number) => boolean;
  /** A rollback runs after the signal (Start after its request). */
  rollsBack: boolean;
  /** Signals tasks-e2e already sends in this phase. */
  coveredElsewhere?: Signal[];
}

const request = (world: World, method: string, path: string, since: number) =>
  world.controller.requests.some((r) => r.method === method && r.path === path && r.time >= since);

const PHASES: Phase[] = [
  {
    phase: "resolve (the controller answers slowly)",
    task: "start",
    // Far slower than the agent's patience: nothing exists yet, so the task must not wait for it.
    hold: (world) =>
      world.controller.addFault({
        kind: "delay",
        delayMs: 20_000,
        method: "GET",
        path: "/api/v1/registry/vm",
      }),
    reached: (world, _out, since) => request(world, "GET", "/api/v1/registry/vm", since),
    rollsBack: false,
  },
  {
    phase: "start request in flight",
    task: "start",
    hold: (world) =>
      world.controller.addFault({ kind: "delay", delayMs: 2_500, method: "POST", path: "/api/v1/vm" }),
    reached: (world, _out, since) => request(world, "POST", "/api/v1/vm", since),
    rollsBack: true,
  },
  {
    phase: "wait for Started",
    task: "start",
    hold: (world, id) => world.controller.addFault({ kind: "stuck-scheduling", externalId: id }),
    reached: (_world, out) => /Requested instance/.test(out),
    rollsBack: true,
    coveredElsewhere: ["SIGTERM"],
  },
  {
    phase: "wait for agent",
    task: "start",
    hold: () => {},
    inputs: { startupScript: "echo no agent here", agentTimeoutMinutes: "5" },
    reached: (_world, out) => /is Started/.test(out),
    rollsBack: true,
    coveredElsewhere: ["SIGINT"],
  },
  {
    phase: "Terminate running",
    task: "terminate",
    hold: (world) =>
      world.controller.addFault({ kind: "delay", delayMs: 1_500, method: "DELETE", path: "/api/v1/vm" }),
    reached: (world, _out, since) => request(world, "DELETE", "/api/v1/vm", since),
    rollsBack: false,
  },
];

const SECRET_FORMS = secretForms();

function assertNoSecrets(run: TaskRun): void {
  const visible = `${run.stdout
    .split("\n")
    .filter((line) => !line.startsWith("##vso[task.setsecret]"))
    .join("\n")}${run.stderr}`;
  for (const { label, value } of SECRET_FORMS) assert.ok(!visible.includes(value), `${label} leaked`);
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what}: not in time`);
    await sleep(20);
  }
}

const startInputs = (id: string, extra: Record<string, string> = {}) => ({
  template: "sonoma-14",
  tag: "base",
  agentIdentifier: id,
  startTimeoutMinutes: "1",
  agentTimeoutMinutes: "0.5",
  ...extra,
});

const results: { phase: string; signal: Signal; exitMs: number; outcome: string }[] = [];

// One half per first signal, each with its own emulators (faults are per emulator), side by side.
describe("cancellation at each phase: SIGINT or SIGTERM, then the other one", { concurrency: 2 }, () => {
  after(() => {
    console.log("Cancellation: exit time after the first signal (the agent kills at 7.5 s)");
    console.table(results);
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) cancellations(signal);
});

function cancellations(signal: Signal): void {
  describe(`${signal} first`, { concurrency: 1 }, () => {
    let world: World;
    let start: string;
    let terminate: string;
    let n = 0;
    before(async () => {
      world = await startWorld();
      start = await taskFolder("AnkaStartInstance");
      terminate = await taskFolder("AnkaTerminateInstance");
    });
    after(() => world.close());

    const env = (inputs: Record<string, string>) =>
      taskEnvironment({ inputs, endpoint: world.endpoint(), variables: world.variables("909") });

    /** A started VM and its online agent, for the Terminate cases. */
    async function startedVm(id: string): Promise<string> {
      const running = startTask(start, env(startInputs(id)));
      const run = await running.finished;
      assert.equal(run.result, "Succeeded", run.stdout);
      return run.outputs.AnkaInstanceId ?? "";
    }

    for (const phase of PHASES.filter((candidate) => !candidate.coveredElsewhere?.includes(signal))) {
      test(`${signal} during ${phase.phase}, then ${OTHER[signal]}`, async () => {
        const id = `cancel-${signal}-${++n}`;
        const instanceId = phase.task === "terminate" ? await startedVm(id) : "";
        if (phase.rollsBack) {
          world.controller.addFault({
            kind: "delay",
            delayMs: SLOW_DELETE_MS,
            method: "DELETE",
            path: "/api/v1/vm",
          });
        }
        phase.hold(world, id);
        const since = Date.now();
        const running =
          phase.task === "start"
            ? startTask(start, env(startInputs(id, phase.inputs)))
            : startTask(terminate, env({ agentIdentifier: id, instanceId, removeAgent: "true" }));
        try {
          await until(() => phase.reached(world, running.output(), since), `phase ${phase.phase}`);
          const sentAt = Date.now();
          running.child.kill(signal);
          // The agent's second signal, while the task is still busy: during the rollback, or while
          // Terminate works. (A Start cancelled before its request is gone before one would be due.)
          const busy = phase.rollsBack ? /Rolling back/ : /Received SIG/;
          await until(() => busy.test(running.output()), "first signal taken", 5_000);
          if (phase.rollsBack || phase.task === "terminate") running.child.kill(OTHER[signal]);
          const run = await running.finished;
          const exitMs = Date.now() - sentAt;
          results.push({
            phase: phase.phase,
            signal,
            exitMs,
            outcome: `${run.result}: ${run.resultMessage}`,
          });
          assert.ok(
            exitMs < AGENT_KILLS_AFTER_MS,
            `exited ${exitMs} ms after ${signal}; the agent kills at 7.5 s`,
          );
          assert.equal(run.signal, null, "exited by itself, not killed by the signal");
          assert.match(run.stdout, new RegExp(`Received ${signal}: `));
          assertNoSecrets(run);
          if (phase.task === "start") {
            assert.equal(run.result, "Failed", run.stdout);
            assert.match(run.resultMessage, /Start was cancelled \(cancelled by SIG(INT|TERM)\)/);
            if (phase.rollsBack) {
              assert.match(run.stdout, new RegExp(`Received ${OTHER[signal]} again: still rolling back`));
              assert.match(run.stdout, /Rolling back: terminating instance/);
              assert.match(run.resultMessage, /rolled back/);
            } else {
              assert.match(run.resultMessage, /before an instance was requested: nothing to roll back/);
              assert.ok(!request(world, "POST", "/api/v1/vm", since), "nothing was started");
            }
          } else {
            // Terminate is the cleanup itself: it finishes its work, then exits.
            assert.match(run.stdout, new RegExp(`Received ${signal}: finishing the cleanup first`));
            assert.match(
              run.stdout,
              new RegExp(`Received ${OTHER[signal]} again: still finishing the cleanup`),
            );
            assert.equal(run.result, "Succeeded", run.stdout);
            assert.match(run.stdout, /Terminated instance/);
            assert.match(run.stdout, /Removed agent anka-/);
          }
          await until(() => world.leftovers().instances === 0, "instances gone", 5_000);
          assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
        } finally {
          running.child.kill("SIGKILL");
          world.controller.clearFaults();
        }
      });
    }
  });
}
