import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { FaultRule as AzdoFault } from "../../emulator/azdo/index.ts";
import type { FaultRule as ControllerFault } from "../../emulator/controller/index.ts";
import { lightScriptRunner, type LightScriptRunner } from "../../emulator/light-runner.ts";
import { runTask, taskEnvironment } from "../../emulator/task-host.ts";
import {
  openConnection,
  startInstance,
  terminateInstance,
  type AgentRegistrationMode,
  type FlowContext,
  type Logger,
  type StartRequest,
} from "../../src/core/index.ts";
import { ROOT_TOKEN } from "../helpers/secrets.ts";
import { PAT, POOL, startWorld, taskFolder, type World } from "../helpers/world.ts";

/**
 * The fault matrix: every fault the controller or Azure DevOps can throw at us, at every phase of a
 * pipeline's Start and Terminate, through the core flows the tasks run (openConnection,
 * startInstance, terminateInstance) against both emulators. Each case ends either completed
 * (transient faults absorbed by retries) or failed with a message that names the fault, and in
 * every case nothing is left: no instance, no agent. The VMs run the light script runner, which
 * registers and runs each agent in-process (the real sandbox would cost two node processes per VM);
 * tasks-e2e and cancellation run the real startup script through the built tasks.
 *
 * The table is printed at the end; WRITE_FAULT_MATRIX=1 also writes it to bench/fault-matrix.json.
 */
const PHASES = ["resolve", "start", "wait for Started", "wait for agent", "terminate"] as const;
type Phase = (typeof PHASES)[number];

const TIMEOUT_MS = 500;
/** Slower than the timeout, and within the time the client gives a timed-out start to show up. */
const SLOW_MS = 750;
const RETRY = { attempts: 4, baseDelayMs: 10, maxDelayMs: 40 };
const POLL_MS = 40;
/** Generous, for a busy machine; the cases about timeouts set short ones. */
const START_TIMEOUT_MS = 15_000;
const AGENT_TIMEOUT_MS = 15_000;

/** The requests each phase makes, where a fault is aimed. */
const CONTROLLER_CALL: Record<Phase, { method: string; path: string }> = {
  resolve: { method: "GET", path: "/api/v1/registry/vm" },
  start: { method: "POST", path: "/api/v1/vm" },
  "wait for Started": { method: "GET", path: "/api/v1/vm" },
  "wait for agent": { method: "GET", path: "/api/v1/vm" },
  terminate: { method: "DELETE", path: "/api/v1/vm" },
};
const AZDO_CALL: Record<Phase, { method?: string; pathIncludes?: string } | string> = {
  resolve: { method: "GET", pathIncludes: "/distributedtask/pools" },
  start: "the start request goes to the controller alone",
  // The first Azure DevOps call after the request is the VM's own: config.sh registering the agent.
  "wait for Started": { pathIncludes: "/distributedtask/pools" },
  "wait for agent": { method: "GET", pathIncludes: "/agents" },
  terminate: { method: "GET", pathIncludes: "/agents" },
};

type Expectation =
  | { completes: true }
  /** Fails naming the fault; with `keptUntilTerminate`, a refused Terminate leaves the VM for the next one. */
  | { fails: RegExp; keptUntilTerminate?: boolean };

interface Case {
  fault: string;
  phase: Phase;
  expect: Expectation;
  /** Adds the fault; called when the phase begins (or before the run, for `before`). */
  inject: (world: World, id: string) => void;
  injectBeforeRun?: boolean;
  /** Time for a delayed request the server still handles after the client gave up. */
  settleMs?: number;
  /** Faults that must have hit a request for the case to count (0 for instance faults). */
  hits: "controller" | "azdo" | "none";
  /** Between Start and Terminate: the build job's time. */
  beforeTerminate?: (world: World, id: string) => Promise<void>;
  /** Start inputs of this case, e.g. a short timeout. */
  request?: Partial<StartRequest>;
}

type Row = {
  fault: string;
  cells: Partial<Record<Phase, Omit<Case, "fault" | "phase"> | string>>;
};

const controllerFault = (rule: Omit<ControllerFault, "method" | "path">, phase: Phase) => (world: World) =>
  world.controller.addFault({ ...rule, ...CONTROLLER_CALL[phase] });

function everyPhase(
  fault: string,
  rule: Omit<ControllerFault, "method" | "path">,
  expect: (phase: Phase) => Expectation,
  settleMs?: number,
): Row {
  return {
    fault,
    cells: Object.fromEntries(
      PHASES.map((phase) => [
        phase,
        { expect: expect(phase), inject: controllerFault(rule, phase), hits: "controller", settleMs },
      ]),
    ),
  };
}

const absorbed = (): Expectation => ({ completes: true });
/** A permanent fault: the run fails naming it; in Terminate the VM stays until the next Terminate. */
const failsWith =
  (message: RegExp) =>
  (phase: Phase): Expectation => ({ fails: message, keptUntilTerminate: phase === "terminate" });

function azdoRow(
  fault: string,
  rule: Omit<AzdoFault, "method" | "pathIncludes">,
  expect: Record<Phase, Expectation | string>,
): Row {
  return {
    fault,
    cells: Object.fromEntries(
      PHASES.map((phase) => {
        const target = AZDO_CALL[phase];
        const expectation = expect[phase];
        if (typeof target === "string") return [phase, target];
        if (typeof expectation === "string") return [phase, expectation];
        return [
          phase,
          {
            expect: expectation,
            inject: (world: World) => world.azdo.addFault({ ...rule, ...target }),
            hits: "azdo",
          },
        ];
      }),
    ),
  };
}

const NO_INSTANCE = "no instance exists in this phase";
const STATE_FAULT_ONLY =
  "a state fault of the instance: it can only happen while the instance is on its way to Started";
const VM_REGISTRATION_FAILS =
  /startup script of instance .* exited with code 6[\s\S]*could not register agent anka-/;

const ROWS: Row[] = [
  everyPhase("controller 5xx burst (2 x 503)", { kind: "status", status: 503, times: 2 }, absorbed),
  everyPhase("connection reset", { kind: "reset" }, absorbed),
  everyPhase("connection reset after the controller acted", { kind: "reset-after-handling" }, absorbed),
  everyPhase(
    `answer slower than the request timeout (${SLOW_MS} ms > ${TIMEOUT_MS} ms)`,
    { kind: "delay", delayMs: SLOW_MS },
    absorbed,
    SLOW_MS + 300,
  ),
  everyPhase("malformed JSON (HTTP 200)", { kind: "malformed" }, failsWith(/the body is not JSON/)),
  everyPhase("HTML error page of a proxy (502)", { kind: "html", times: 2 }, absorbed),
  everyPhase(
    "401 in the middle of a run",
    { kind: "status", status: 401, message: "Authentication Required" },
    failsWith(/refused .*Authentication Required \(HTTP 401\).*root token/),
  ),
  {
    fault: "instance goes to Error",
    cells: {
      resolve: NO_INSTANCE,
      start: NO_INSTANCE,
      "wait for Started": {
        inject: (world, id) =>
          world.controller.addFault({
            kind: "instance-error",
            externalId: id,
            message: 'Unexpected VM state: "stopped"',
          }),
        expect: { fails: /went to Error: Unexpected VM state: "stopped"/ },
        hits: "none",
      },
      "wait for agent": STATE_FAULT_ONLY,
      terminate: STATE_FAULT_ONLY,
    },
  },
  {
    fault: "instance stuck in Scheduling past the timeout",
    cells: {
      resolve: NO_INSTANCE,
      start: NO_INSTANCE,
      "wait for Started": {
        inject: (world, id) => world.controller.addFault({ kind: "stuck-scheduling", externalId: id }),
        injectBeforeRun: true,
        request: { startTimeoutMs: 1_200 },
        expect: {
          fails: /was not Started within 1\.2 s; last state: Scheduling\. It is waiting for a free slot/,
        },
        hits: "none",
      },
      "wait for agent": STATE_FAULT_ONLY,
      terminate: STATE_FAULT_ONLY,
    },
  },
  {
    fault: "agent never online (its listener cannot open a session)",
    cells: {
      resolve: "no agent exists in this phase",
      start: "no agent exists in this phase",
      "wait for Started": "the agent registers in this phase; coming online is the next one",
      "wait for agent": {
        inject: (world) =>
          world.azdo.addFault({
            method: "POST",
            pathIncludes: "/sessions",
            kind: "status",
            status: 503,
            times: Infinity,
          }),
        injectBeforeRun: true,
        request: { agentTimeoutMs: 1_000 },
        expect: { fails: /Agent anka-.* registered in pool "Anka" but did not come online within 1 s/ },
        hits: "azdo",
      },
      terminate: "a Terminate does not wait for the agent",
    },
  },
  azdoRow(
    "Azure DevOps 5xx burst (2 x 503)",
    { kind: "status", status: 503, times: 2 },
    {
      resolve: absorbed(),
      start: "",
      // The stand-in config.sh, like the light runner, does not retry: the VM's registration fails.
      "wait for Started": { fails: VM_REGISTRATION_FAILS },
      "wait for agent": absorbed(),
      terminate: absorbed(),
    },
  ),
  azdoRow(
    "Azure DevOps 401",
    { kind: "status", status: 401 },
    {
      resolve: { fails: /rejected the PAT \(HTTP 401\).*Agent Pools \(read & manage\)/ },
      start: "",
      "wait for Started": { fails: VM_REGISTRATION_FAILS },
      "wait for agent": { fails: /rejected the PAT \(HTTP 401\)/ },
      terminate: { fails: /rejected the PAT \(HTTP 401\)/, keptUntilTerminate: true },
    },
  ),
];

interface Outcome {
  case: string;
  fault: string;
  phase: Phase;
  expected: string;
  outcome: string;
  ok: boolean;
  ms: number;
}

const table: Outcome[] = [];
const skipped: { fault: string; phase: Phase; reason: string }[] = [];

// Two halves, each with its own emulators, run side by side: faults are per emulator.
describe("fault matrix: every fault at every phase, through the core flows", { concurrency: 3 }, () => {
  after(printTable);
  matrixHalf("controller faults absorbed by retries", ROWS.slice(0, 4), false);
  matrixHalf("failures, state faults and Azure DevOps", ROWS.slice(4), true);
  // The agent exists before the VM is requested: every controller and instance fault again. (The
  // Azure DevOps rows aim at the VM's own config.sh, which this mode does not run.)
  matrixHalf(
    "controller and instance faults, agentRegistration preregistered",
    ROWS.slice(0, 10),
    false,
    "preregistered",
  );
  throughTheTasks();
});

/**
 * A few cases of the matrix again through the built tasks as the agent runs them, with the task's
 * own retry policy and the real startup script in the sandbox.
 */
function throughTheTasks(): void {
  const CASES: {
    fault: string;
    phase: Phase;
    inject: (world: World, id: string) => void;
    result: "Succeeded" | "Failed";
    message?: RegExp;
  }[] = [
    {
      fault: "controller 5xx burst (2 x 503)",
      phase: "wait for Started",
      inject: (world) =>
        world.controller.addFault({
          kind: "status",
          status: 503,
          times: 2,
          method: "GET",
          path: "/api/v1/vm",
        }),
      result: "Succeeded",
    },
    {
      fault: "connection reset after the controller acted",
      phase: "start",
      inject: (world) =>
        world.controller.addFault({ kind: "reset-after-handling", method: "POST", path: "/api/v1/vm" }),
      result: "Succeeded",
    },
    {
      fault: "instance goes to Error",
      phase: "wait for Started",
      inject: (world, id) =>
        world.controller.addFault({ kind: "instance-error", externalId: id, message: "Unexpected VM state" }),
      result: "Failed",
      message: /went to Error: Unexpected VM state/,
    },
  ];
  describe("through the built tasks", { concurrency: 1 }, () => {
    let world: World;
    let start: string;
    let terminate: string;
    before(async () => {
      world = await startWorld();
      start = await taskFolder("AnkaStartInstance");
      terminate = await taskFolder("AnkaTerminateInstance");
    });
    after(() => world.close());

    CASES.forEach((c, n) => {
      test(`${c.fault} during ${c.phase}, through AnkaStartInstance and AnkaTerminateInstance`, async () => {
        const id = `fmt-${n + 1}`;
        const env = (inputs: Record<string, string>) =>
          taskEnvironment({ inputs, endpoint: world.endpoint(), variables: world.variables("4711") });
        c.inject(world, id);
        const began = Date.now();
        const started = await runTask(
          start,
          env({
            template: "sonoma-14",
            tag: "base",
            agentIdentifier: id,
            startTimeoutMinutes: "1",
            agentTimeoutMinutes: "0.5",
          }),
        );
        const faulted = world.controller.requests.filter((r) => r.fault && r.time >= began).length;
        assert.equal(started.result, c.result, started.stdout);
        if (c.message) assert.match(started.resultMessage, c.message);
        if (c.result === "Failed") assert.match(started.stdout, /Rolling back/);
        else assert.ok(faulted > 0, "the fault hit a request");
        // One start request, one VM, whatever the answers were.
        const posts = world.controller.requests.filter(
          (r) =>
            r.method === "POST" &&
            r.path === "/api/v1/vm" &&
            (r.body as { external_id?: string })?.external_id === id,
        );
        assert.equal(posts.length, 1);
        const stopped = await runTask(
          terminate,
          env({ agentIdentifier: id, instanceId: started.outputs.AnkaInstanceId ?? "", removeAgent: "true" }),
        );
        assert.equal(stopped.result, "Succeeded", stopped.stdout);
        const deadline = Date.now() + 5_000;
        while (world.leftovers().instances > 0 && Date.now() < deadline) await sleep(25);
        assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
        world.controller.clearFaults();
        table.push({
          case: `${c.fault} | ${c.phase} | tasks`,
          fault: `${c.fault} (built tasks)`,
          phase: c.phase,
          expected: c.result === "Succeeded" ? "completes" : `fails: ${c.message?.source}`,
          outcome: c.result === "Succeeded" ? "completed" : `failed: ${firstLine(started.resultMessage)}`,
          ok: true,
          ms: Date.now() - began,
        });
      });
    });
  });
}

function matrixHalf(
  name: string,
  rows: Row[],
  extras: boolean,
  registration: AgentRegistrationMode = "inVm",
): void {
  const mode = registration === "inVm" ? "" : ` [${registration}]`;
  // One case after another within a half: its emulators' faults are shared.
  describe(name, { concurrency: 1 }, () => {
    let world: World;
    let runner: LightScriptRunner;
    let n = 0;
    const prefix = `${extras ? "fmb" : "fma"}${registration === "inVm" ? "" : "p"}`;
    before(async () => {
      runner = lightScriptRunner();
      world = await startWorld({ controller: { scriptRunner: runner, auth: { rootToken: ROOT_TOKEN } } });
    });
    after(async () => {
      await runner.cleanup();
      await world.close();
    });

    function connection(log: Logger) {
      return openConnection(
        {
          controllerUrl: world.controller.url,
          auth: { kind: "rootToken", token: ROOT_TOKEN },
          timeoutMs: TIMEOUT_MS,
          retry: RETRY,
          agent: { pool: POOL, azureDevOpsUrl: world.azdo.url, pat: PAT, registration },
        },
        log,
        () => {},
      );
    }

    /** Waits for Terminating to end; whatever is still there then was left behind. */
    async function nothingLeft(): Promise<void> {
      const deadline = Date.now() + 3_000;
      while (Date.now() < deadline) {
        const left = world.leftovers();
        if (left.instances === 0 && left.agents.length === 0) return;
        await sleep(25);
      }
      const left = world.leftovers();
      await scrub();
      assert.deepEqual(left, { instances: 0, agents: [] }, "something was left");
    }

    /** After a failed case: removes everything, so that the next case starts clean. */
    async function scrub(): Promise<void> {
      const opened = connection({ info: () => {}, warn: () => {}, debug: () => {} });
      for (const instance of world.controller.instances())
        if (!["Terminating", "Terminated"].includes(instance.instance_state))
          await opened.anka.terminateInstance(instance.instance_id).catch(() => {});
      const pool = await opened.azdo.findPool(POOL);
      for (const agent of await opened.azdo.listAgents(pool)) await opened.azdo.deleteAgent(pool, agent.id);
      opened.close();
    }

    /** One pipeline: Start, then Terminate with Start's outputs; the fault goes in when its phase begins. */
    async function play(c: Case, request: Partial<StartRequest> = {}) {
      const id = `${prefix}-${++n}`;
      const lines: string[] = [];
      const faultsBefore = faultCount(world);
      let injected = false;
      const inject = () => {
        if (injected) return;
        injected = true;
        c.inject(world, id);
      };
      const phaseBegins: Partial<Record<Phase, RegExp>> = {
        start: /^Starting a VM/,
        "wait for Started": /^Requested instance/,
        "wait for agent": /^Instance .* is Started/,
      };
      const log: Logger = {
        info: (message) => {
          lines.push(message);
          if (phaseBegins[c.phase]?.test(message)) inject();
          // Hold the agent offline a moment, so that the agent wait polls while the fault is armed.
          if (c.phase === "wait for agent" && /^Requested instance/.test(message) && !c.injectBeforeRun)
            world.azdo.addFault({ method: "POST", pathIncludes: "/sessions", kind: "delay", delayMs: 800 });
        },
        warn: (message) => lines.push(`warning: ${message}`),
        debug: () => {},
      };
      if (c.phase === "resolve" || c.injectBeforeRun) inject();
      const opened = connection(log);
      const ctx: FlowContext = {
        anka: opened.anka,
        azdo: opened.azdo,
        agent: opened.agent,
        log,
        pollIntervalMs: POLL_MS,
        rollbackBudgetMs: 4_000,
      };
      const began = Date.now();
      let failure: Error | undefined;
      let keptForDebugging = false;
      try {
        const started = await startInstance(
          {
            template: "sonoma-14",
            tag: "base",
            agentIdentifier: id,
            startTimeoutMs: START_TIMEOUT_MS,
            agentTimeoutMs: AGENT_TIMEOUT_MS,
            waitForAgent: true,
            keepInstanceOnFailure: false,
            ...c.request,
            ...request,
          },
          ctx,
        );
        await c.beforeTerminate?.(world, id);
        if (c.phase === "terminate") inject();
        await terminateInstance(
          { agentIdentifier: id, instanceId: started.instanceId, removeAgent: true },
          ctx,
        );
      } catch (error) {
        failure = error as Error;
        keptForDebugging = request.keepInstanceOnFailure === true;
      }
      const ms = Date.now() - began;
      if (c.settleMs) await sleep(c.settleMs);
      const kept = world.leftovers();
      if (failure && (("fails" in c.expect && c.expect.keptUntilTerminate) || keptForDebugging)) {
        // A Terminate that was refused (or a kept VM): the next Terminate, by identifier, removes all.
        await terminateInstance({ agentIdentifier: id, removeAgent: true }, ctx);
      }
      opened.close();
      world.controller.clearFaults();
      world.azdo.clearFaults();
      const faultsAfter = faultCount(world);
      const faultsHit = {
        controller: faultsAfter.controller - faultsBefore.controller,
        azdo: faultsAfter.azdo - faultsBefore.azdo,
      };
      // Start requests the controller acted on (a fault that answers instead of it makes none).
      const vmsCreated = world.controller.requests.filter(
        (r) =>
          r.method === "POST" &&
          r.path === "/api/v1/vm" &&
          (r.body as { external_id?: string } | undefined)?.external_id === id &&
          (r.fault === undefined || r.fault === "delay" || r.fault === "reset-after-handling"),
      ).length;
      return { id, failure, ms, lines, kept, faultsHit, vmsCreated };
    }

    for (const row of rows) {
      for (const phase of PHASES) {
        const cell = row.cells[phase];
        if (cell === undefined || typeof cell === "string") {
          skipped.push({ fault: `${row.fault}${mode}`, phase, reason: cell || "not applicable" });
          continue;
        }
        const c: Case = { fault: row.fault, phase, ...cell };
        test(`${row.fault} during ${phase}${mode}`, async () => {
          const run = await play(c);
          const expected = "completes" in c.expect ? "completes" : `fails: ${c.expect.fails.source}`;
          const outcome = run.failure ? `failed: ${firstLine(run.failure.message)}` : "completed";
          const entry: Outcome = {
            case: `${c.fault} | ${phase}${mode}`,
            fault: `${c.fault}${mode}`,
            phase,
            expected,
            outcome,
            ok: false,
            ms: run.ms,
          };
          table.push(entry);
          assert.ok(run.vmsCreated <= 1, `${run.vmsCreated} VMs for one start`);
          if (c.hits !== "none")
            assert.ok(run.faultsHit[c.hits] > 0, `the fault never hit a request: ${run.lines.join("\n")}`);
          if ("completes" in c.expect) assert.equal(run.failure, undefined, run.failure?.message);
          else {
            assert.ok(run.failure, `expected a failure; log:\n${run.lines.join("\n")}`);
            assert.match(run.failure.message, c.expect.fails);
            if (phase !== "terminate" && phase !== "resolve" && phase !== "start")
              assert.ok(
                run.lines.some((line) => /^Rolling back/.test(line)),
                "rolled back",
              );
          }
          await nothingLeft();
          entry.ok = true;
        });
      }
    }

    if (!extras) return;

    test("a start answered after the client gave up twice makes a second VM: Terminate finds it by its start token", async () => {
      // Slower than the timeout plus the time the client waits for a timed-out start to show up: the
      // client asks again, and the controller makes both. The pipeline's build job runs meanwhile; the
      // late VM is there when Terminate runs.
      const lateMs = 3 * TIMEOUT_MS;
      const run = await play({
        fault: "start answered later than the client waits",
        phase: "start",
        inject: (w) =>
          w.controller.addFault({ kind: "delay", delayMs: lateMs, method: "POST", path: "/api/v1/vm" }),
        expect: { completes: true },
        hits: "controller",
        beforeTerminate: async (w, id) => {
          const deadline = Date.now() + 5_000;
          while (w.controller.instances().filter((i) => i.external_id === id).length < 2) {
            assert.ok(Date.now() < deadline, "the late instance never appeared");
            await sleep(25);
          }
        },
      });
      assert.equal(run.failure, undefined, run.failure?.message);
      assert.equal(run.vmsCreated, 2, "the controller made two VMs");
      assert.ok(
        run.lines.some((line) => /was created by the same start request as .*terminating it too/.test(line)),
        run.lines.join("\n"),
      );
      await nothingLeft();
      table.push({
        case: "start answered later than the client waits | start",
        fault: `start answered later than the client waits (${lateMs} ms)`,
        phase: "start",
        expected: "completes; the second VM is terminated by Terminate",
        outcome: "completed; Terminate removed the late second VM",
        ok: true,
        ms: run.ms,
      });
    });

    test("keepInstanceOnFailure: a failed VM and its agent stay for debugging; a later Terminate removes them", async () => {
      const run = await play(
        {
          fault: "instance goes to Error, keepInstanceOnFailure",
          phase: "wait for Started",
          inject: (w, id) =>
            w.controller.addFault({ kind: "instance-error", externalId: id, message: "kept for debugging" }),
          expect: { fails: /kept for debugging/ },
          hits: "none",
        },
        { keepInstanceOnFailure: true },
      );
      assert.match(run.failure?.message ?? "", /went to Error: kept for debugging/);
      assert.ok(
        run.lines.some((line) =>
          /keepInstanceOnFailure is set: instance .* and agent anka-.* are left/.test(line),
        ),
      );
      assert.ok(!run.lines.some((line) => /^Rolling back/.test(line)));
      assert.equal(run.kept.instances, 1, "the VM is kept");
      assert.deepEqual(run.kept.agents, [`anka-${run.id}`], "its agent too");
      await nothingLeft();
      table.push({
        case: "instance goes to Error | wait for Started | keepInstanceOnFailure",
        fault: "instance goes to Error, keepInstanceOnFailure",
        phase: "wait for Started",
        expected: "fails, VM and agent kept; a later Terminate removes them",
        outcome: `failed: ${firstLine(run.failure?.message ?? "")}; kept ${run.kept.instances} VM, ${run.kept.agents.length} agent; removed by Terminate`,
        ok: true,
        ms: run.ms,
      });
    });
  });
}

function faultCount(world: World): { controller: number; azdo: number } {
  return {
    controller: world.controller.requests.filter((request) => request.fault).length,
    azdo: world.azdo.requests.filter((request) => request.fault).length,
  };
}

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 160 ? `${line.slice(0, 160)}…` : line;
}

function printTable(): void {
  const passed = table.filter((entry) => entry.ok).length;
  console.log(
    `\nFault matrix: ${table.length} cases, ${passed} as expected, ${skipped.length} combinations skipped\n`,
  );
  console.table(
    table.map(({ fault, phase, expected, outcome, ms }) => ({ fault, phase, expected, outcome, ms })),
  );
  console.log("Skipped:");
  for (const { fault, phase, reason } of skipped) console.log(`  ${fault} | ${phase}: ${reason}`);
  if (process.env.WRITE_FAULT_MATRIX === "1") {
    const file = new URL("../../bench/fault-matrix.json", import.meta.url);
    writeFileSync(
      file,
      `${JSON.stringify({ measuredAt: new Date().toISOString(), cases: table, skipped }, null, 2)}\n`,
    );
    console.log(`wrote ${file.pathname}`);
  }
}
