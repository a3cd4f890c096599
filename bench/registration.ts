/**
 * Issue 13's figures: start time and requests per start in both agent registration modes, on the
 * emulators with the real startup script in the sandbox (dash) and the stand-in agent. The modes
 * alternate run by run, so that a busy machine slows both alike. A start is timed from the call to
 * the agent being online; requests are counted over the same window, by who sent them: this
 * project's clients (controller, Azure DevOps) and the VM's agent (config.sh, run.sh).
 */
import { startWorld } from "../emulator/world.ts";
import type { AgentRegistrationMode } from "../src/core/index.ts";
import { openConnection, startInstance, terminateInstance } from "../src/core/index.ts";
import { median, round } from "./stats.ts";

const PAT = "bench-pat-2b8e41d07c";
const silent = { info: () => {}, warn: () => {}, debug: () => {} };

export interface ModeFigures {
  startMs: { median: number; min: number; max: number; runs: number };
  requestsPerStart: { controller: number; azureDevOpsByClient: number; azureDevOpsByAgent: number };
}

export async function registrationFigures(runs: number): Promise<Record<AgentRegistrationMode, ModeFigures>> {
  const world = await startWorld({ pat: PAT, shell: "dash" });
  const samples: Record<
    AgentRegistrationMode,
    { ms: number; controller: number; client: number; agent: number }[]
  > = { inVm: [], preregistered: [] };
  try {
    for (let n = 0; n < runs * 2; n++) {
      const mode: AgentRegistrationMode = n % 2 === 0 ? "inVm" : "preregistered";
      const opened = openConnection(
        {
          controllerUrl: world.controller.url,
          auth: { kind: "none" },
          agent: { pool: world.pool, azureDevOpsUrl: world.azdo.url, pat: PAT, registration: mode },
        },
        { info: () => {}, warn: () => {}, debug: () => {} },
        () => {},
      );
      const ctx = {
        anka: opened.anka,
        azdo: opened.azdo,
        agent: opened.agent,
        log: silent,
        pollIntervalMs: 100,
      };
      const controllerBefore = world.controller.requests.length;
      const azdoBefore = world.azdo.requests.length;
      const began = performance.now();
      const started = await startInstance(
        {
          template: "sonoma-14",
          tag: "base",
          agentIdentifier: `bench-${mode}-${n}`,
          startTimeoutMs: 60_000,
          agentTimeoutMs: 60_000,
          waitForAgent: true,
          keepInstanceOnFailure: false,
        },
        ctx,
      );
      const ms = performance.now() - began;
      const azdoRequests = world.azdo.requests.slice(azdoBefore);
      const byAgent = azdoRequests.filter((r) =>
        String(r.headers["user-agent"] ?? "").startsWith("VstsAgentCore"),
      );
      samples[mode].push({
        ms,
        controller: world.controller.requests.length - controllerBefore,
        client: azdoRequests.length - byAgent.length,
        agent: byAgent.length,
      });
      await terminateInstance({ agentIdentifier: started.agentIdentifier, removeAgent: true }, ctx);
      opened.close();
    }
  } finally {
    await world.close();
  }
  const figures = (list: (typeof samples)["inVm"]): ModeFigures => ({
    startMs: {
      median: round(median(list.map((s) => s.ms)), 0),
      min: round(Math.min(...list.map((s) => s.ms)), 0),
      max: round(Math.max(...list.map((s) => s.ms)), 0),
      runs: list.length,
    },
    requestsPerStart: {
      controller: median(list.map((s) => s.controller)),
      azureDevOpsByClient: median(list.map((s) => s.client)),
      azureDevOpsByAgent: median(list.map((s) => s.agent)),
    },
  });
  return { inVm: figures(samples.inVm), preregistered: figures(samples.preregistered) };
}
