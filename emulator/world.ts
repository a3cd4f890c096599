import {
  startAzureDevOpsEmulator,
  type AzureDevOpsEmulator,
  type AzureDevOpsEmulatorOptions,
} from "./azdo/index.ts";
import {
  startControllerEmulator,
  type ControllerEmulator,
  type ControllerEmulatorOptions,
} from "./controller/index.ts";
import { sandboxScriptRunner, type SandboxScriptRunner } from "./sandbox/index.ts";
import type { EndpointFixture } from "./task-host.ts";

/**
 * Both emulators wired together: the controller emulator runs startup scripts for real in a
 * sandbox shell, where the stand-in agent registers with the Azure DevOps emulator. The tests, the
 * demo and the benchmarks all stand on this.
 */
export interface WorldOptions {
  /** PAT with Manage rights on the pool. */
  pat: string;
  /** Extra PATs that may only read. */
  readOnlyPats?: string[];
  pool?: string;
  shell?: "dash" | "bash-posix";
  controller?: ControllerEmulatorOptions;
  azdo?: AzureDevOpsEmulatorOptions;
}

export interface World {
  controller: ControllerEmulator;
  azdo: AzureDevOpsEmulator;
  sandbox: SandboxScriptRunner;
  pool: string;
  /** A service connection of type VeertuAnkaController pointing at both emulators. */
  endpoint(
    overrides?: Partial<Omit<EndpointFixture, "data" | "parameters">> & {
      data?: Record<string, string>;
      parameters?: Record<string, string>;
    },
  ): EndpointFixture;
  /** Pipeline variables the agent would set for a run with this build id. */
  variables(buildId: string): Record<string, string>;
  /** Instances not Terminating/Terminated, and agents still registered in the pool. */
  leftovers(): { instances: number; agents: string[] };
  close(): Promise<void>;
}

export async function startWorld(options: WorldOptions): Promise<World> {
  const pool = options.pool ?? "Anka";
  const sandbox = sandboxScriptRunner({
    shell: options.shell ?? "dash",
    // The stand-in agent refuses root like the real one; CI runs as root.
    env: { AGENT_ALLOW_RUNASROOT: "1" },
  });
  const controller = await startControllerEmulator({ scriptRunner: sandbox, ...options.controller });
  const azdo = await startAzureDevOpsEmulator({
    pools: [
      { id: 1, name: "Default" },
      { id: 10, name: pool },
    ],
    tokens: [
      { token: options.pat, manage: true, owner: "Pipeline Admin" },
      ...(options.readOnlyPats ?? []).map((token) => ({ token, manage: false, owner: "Read Only" })),
    ],
    ...options.azdo,
  });
  return {
    controller,
    azdo,
    sandbox,
    pool,
    endpoint: (overrides = {}) => ({
      id: overrides.id ?? "0d3c3f4e-1b2a-4c5d-8e9f-a0b1c2d3e4f5",
      url: overrides.url ?? controller.url,
      scheme: overrides.scheme ?? "None",
      parameters: { azureDevOpsToken: options.pat, ...overrides.parameters },
      data: { agentPool: pool, azureDevOpsUrl: azdo.url, ...overrides.data },
    }),
    variables: (buildId) => ({
      "System.CollectionUri": `${azdo.url}/`,
      "System.TeamProject": "Mobile Apps",
      "Build.BuildId": buildId,
      "Anka.PollIntervalSeconds": "0.1",
    }),
    leftovers: () => ({
      instances: controller.liveInstances(),
      agents: azdo.agents(pool).map((agent) => agent.name),
    }),
    close: async () => {
      await controller.close();
      await sandbox.cleanup();
      await azdo.close();
    },
  };
}
