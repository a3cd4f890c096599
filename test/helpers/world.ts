import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  startAzureDevOpsEmulator,
  type AzureDevOpsEmulator,
  type AzureDevOpsEmulatorOptions,
} from "../../emulator/azdo/index.ts";
import {
  startControllerEmulator,
  type ControllerEmulator,
  type ControllerEmulatorOptions,
} from "../../emulator/controller/index.ts";
import { sandboxScriptRunner, type SandboxScriptRunner } from "../../emulator/sandbox/index.ts";
import { bundleTasks, packVsix } from "../../scripts/package.ts";
import type { EndpointFixture } from "./task-runner.ts";

/**
 * The ground the end-to-end tests stand on: the controller emulator running startup scripts for
 * real in a sandbox shell, the Azure DevOps emulator with its stand-in agent, and a service
 * connection pointing at both.
 */
export const PAT = "azdo-pat-Zq8$`'\"x7";
export const READ_ONLY_PAT = "azdo-readonly-pat-41k";
export const POOL = "Anka";

export interface World {
  controller: ControllerEmulator;
  azdo: AzureDevOpsEmulator;
  sandbox: SandboxScriptRunner;
  endpoint(
    overrides?: Partial<EndpointFixture> & {
      data?: Record<string, string>;
      parameters?: Record<string, string>;
    },
  ): EndpointFixture;
  variables(buildId: string): Record<string, string>;
  /** Instances not Terminating/Terminated, and agents still registered in the pool. */
  leftovers(): { instances: number; agents: string[] };
  close(): Promise<void>;
}

export async function startWorld(
  options: {
    shell?: "dash" | "bash-posix";
    controller?: ControllerEmulatorOptions;
    azdo?: AzureDevOpsEmulatorOptions;
  } = {},
): Promise<World> {
  const sandbox = sandboxScriptRunner({
    shell: options.shell ?? "dash",
    // The stand-in agent refuses root like the real one; CI runs as root.
    env: { AGENT_ALLOW_RUNASROOT: "1" },
  });
  const controller = await startControllerEmulator({ scriptRunner: sandbox, ...options.controller });
  const azdo = await startAzureDevOpsEmulator({
    tokens: [
      { token: PAT, manage: true, owner: "Pipeline Admin" },
      { token: READ_ONLY_PAT, manage: false, owner: "Read Only" },
    ],
    ...options.azdo,
  });
  return {
    controller,
    azdo,
    sandbox,
    endpoint: (overrides = {}) => ({
      id: overrides.id ?? "0d3c3f4e-1b2a-4c5d-8e9f-a0b1c2d3e4f5",
      url: overrides.url ?? controller.url,
      scheme: overrides.scheme ?? "None",
      parameters: { azureDevOpsToken: PAT, ...overrides.parameters },
      data: { agentPool: POOL, azureDevOpsUrl: azdo.url, ...overrides.data },
    }),
    variables: (buildId) => ({
      "System.CollectionUri": `${azdo.url}/`,
      "System.TeamProject": "Mobile Apps",
      "Build.BuildId": buildId,
      "Anka.PollIntervalSeconds": "0.1",
    }),
    leftovers: () => ({
      instances: controller.liveInstances(),
      agents: azdo.agents(POOL).map((agent) => agent.name),
    }),
    close: async () => {
      await controller.close();
      await sandbox.cleanup();
      await azdo.close();
    },
  };
}

/** Packs the extension once per test process and extracts the vsix, as Azure DevOps would install it. */
let extracted: Promise<string> | undefined;
export function installedExtension(): Promise<string> {
  extracted ??= (async () => {
    // Own folders per test process: test files run in parallel.
    const work = mkdtempSync(path.join(tmpdir(), "anka-vsix-"));
    process.on("exit", () => rmSync(work, { recursive: true, force: true }));
    const staged = path.join(work, "staged");
    await bundleTasks(staged);
    const vsix = packVsix(staged, path.join(work, "dist"));
    const dir = path.join(work, "installed");
    execFileSync("unzip", ["-q", vsix, "-d", dir]);
    return dir;
  })();
  return extracted;
}

export async function taskFolder(name: "AnkaStartInstance" | "AnkaTerminateInstance"): Promise<string> {
  const dir = path.join(await installedExtension(), "tasks", name, `${name}V1`);
  if (!existsSync(path.join(dir, "index.js"))) throw new Error(`no built task in ${dir}`);
  return dir;
}
