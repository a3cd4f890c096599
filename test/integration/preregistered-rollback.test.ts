import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { lightScriptRunner, type LightScriptRunner } from "../../emulator/light-runner.ts";
import {
  openConnection,
  StartCancelledError,
  startInstance,
  terminateInstance,
  type FlowContext,
  type StartRequest,
} from "../../src/core/index.ts";
import { agentPrivateKeyPem } from "../helpers/secrets.ts";
import { PAT, POOL, startWorld, type World } from "../helpers/world.ts";

/**
 * agentRegistration `preregistered`: the agent exists before the VM is requested, so every failure
 * or cancellation from the registration on must remove it as well as the VM. The fault matrix's
 * phases again, through the core Start and Terminate flows against both emulators (the light
 * runner writes the rendered files and runs the stand-in listener in-process).
 */
const RETRY = { attempts: 4, baseDelayMs: 10, maxDelayMs: 40 };
const AGENT_KEY = createPrivateKey(agentPrivateKeyPem());

describe(
  "preregistered: failures and cancellation after the registration leave nothing",
  { concurrency: 1 },
  () => {
    let world: World;
    let runner: LightScriptRunner;
    let n = 0;
    before(async () => {
      runner = lightScriptRunner();
      world = await startWorld({ controller: { scriptRunner: runner } });
    });
    after(async () => {
      await runner.cleanup();
      await world.close();
    });

    async function play(options: {
      request?: Partial<StartRequest>;
      /** Called with each log line; may inject a fault or abort. */
      onLine?: (line: string, abort: () => void) => void;
    }) {
      const id = `prr-${++n}`;
      const lines: string[] = [];
      const cancel = new AbortController();
      const opened = openConnection(
        {
          controllerUrl: world.controller.url,
          auth: { kind: "none" },
          timeoutMs: 500,
          retry: RETRY,
          agent: { pool: POOL, azureDevOpsUrl: world.azdo.url, pat: PAT, registration: "preregistered" },
        },
        { info: () => {}, warn: () => {}, debug: () => {} },
        () => {},
      );
      const log = (line: string) => {
        lines.push(line);
        options.onLine?.(line, () => cancel.abort(new Error("cancelled by the test")));
      };
      const ctx: FlowContext = {
        anka: opened.anka,
        azdo: opened.azdo,
        agent: opened.agent,
        log: { info: log, warn: (m) => log(`warning: ${m}`), debug: () => {} },
        pollIntervalMs: 40,
        rollbackBudgetMs: 4_000,
        signal: cancel.signal,
        agentKey: AGENT_KEY,
      };
      let failure: Error | undefined;
      try {
        const started = await startInstance(
          {
            template: "sonoma-14",
            tag: "base",
            agentIdentifier: id,
            startTimeoutMs: 15_000,
            agentTimeoutMs: 15_000,
            waitForAgent: true,
            keepInstanceOnFailure: false,
            ...options.request,
          },
          ctx,
        );
        await terminateInstance(
          { agentIdentifier: id, instanceId: started.instanceId, removeAgent: true },
          ctx,
        );
      } catch (error) {
        failure = error as Error;
      } finally {
        opened.close();
        world.controller.clearFaults();
        world.azdo.clearFaults();
      }
      const deadline = Date.now() + 3_000;
      while (
        Date.now() < deadline &&
        (world.leftovers().instances > 0 || world.leftovers().agents.length > 0)
      )
        await sleep(25);
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] }, `left behind: ${lines.join("\n")}`);
      return { failure, lines };
    }

    test("no fault: registered, online, Terminate removes VM and agent", async () => {
      const { failure, lines } = await play({});
      assert.equal(failure, undefined);
      assert.ok(lines.some((line) => /with its own key/.test(line)));
    });

    test("the start request refused (malformed answer): the agent is removed, no VM exists", async () => {
      const { failure, lines } = await play({
        onLine: (line) => {
          if (/with its own key/.test(line))
            world.controller.addFault({ kind: "malformed", method: "POST", path: "/api/v1/vm" });
        },
      });
      assert.match(failure?.message ?? "", /the body is not JSON/);
      assert.ok(
        lines.some((line) => /Removing pre-registered agent anka-prr-\d+: its VM was not started/.test(line)),
      );
    });

    test("cancelled right after the registration: the agent is removed before any VM is requested", async () => {
      const before = world.controller.requests.length;
      const { failure } = await play({ onLine: (line, abort) => /with its own key/.test(line) && abort() });
      assert.ok(failure instanceof StartCancelledError, String(failure));
      assert.match(failure.message, /its pre-registered agent was removed/);
      assert.equal(
        world.controller.requests.slice(before).filter((r) => r.method === "POST" && r.path === "/api/v1/vm")
          .length,
        0,
      );
    });

    test("cancelled while waiting for Started: VM and agent rolled back", async () => {
      const { failure } = await play({
        onLine: (line, abort) => /^Requested instance/.test(line) && abort(),
      });
      assert.ok(failure instanceof StartCancelledError, String(failure));
      assert.match(failure.message, /rolled back/);
    });

    test("the instance goes to Error: VM and agent rolled back", async () => {
      const id = `prr-${n + 1}`;
      world.controller.addFault({ kind: "instance-error", externalId: id, message: "Unexpected VM state" });
      const { failure } = await play({});
      assert.match(failure?.message ?? "", /went to Error: Unexpected VM state/);
    });

    test("the agent never comes online: VM and agent rolled back", async () => {
      // Every session refused: the listener never gets online.
      const refused = { kind: "status", status: 503, times: Infinity } as const;
      world.azdo.addFault({ method: "POST", pathIncludes: "/sessions", ...refused });
      const { failure } = await play({ request: { agentTimeoutMs: 1_000 } });
      assert.match(failure?.message ?? "", /did not come online within 1 s/);
    });

    test("Azure DevOps 5xx burst at the registration: absorbed by retries", async () => {
      world.azdo.addFault({ method: "POST", pathIncludes: "/agents", kind: "status", status: 503, times: 2 });
      const { failure } = await play({});
      assert.equal(failure, undefined);
    });

    test("the registration's answer slower than the request timeout: the retry registers, the run completes", async () => {
      world.azdo.addFault({ method: "POST", pathIncludes: "/agents", kind: "delay", delayMs: 700 });
      const { failure } = await play({});
      assert.equal(failure, undefined, failure?.message);
    });

    test("a PAT that cannot manage the pool: fails before anything exists", async () => {
      world.azdo.addFault({ method: "POST", pathIncludes: "/agents", kind: "status", status: 403, times: 4 });
      const { failure } = await play({});
      assert.match(failure?.message ?? "", /cannot manage pool "Anka"/);
    });
  },
);
