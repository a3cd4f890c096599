import type { KeyObject } from "node:crypto";
import {
  agentPlatformFor,
  registerAgentWithKey,
  type AgentPool,
  type AzureDevOpsClient,
} from "../azdo/index.ts";
import {
  AGENT_IDENTIFIER_CAPABILITY,
  createAgentKey,
  generateAgentPrivateKey,
  renderAgentFiles,
  type AgentFiles,
} from "../bootstrap/index.ts";
import type { Logger, SecretRegistry } from "./ports.ts";
import { removeAgents } from "./rollback.ts";
import type { AgentSettings } from "./settings.ts";

/** The agent package a VM will run: where it comes from and, for a registration, its version. */
export interface AgentPackageChoice {
  url: string;
  /** Known when the packages API was asked or the mirror's file name carries it. */
  version?: string;
}

/** `vsts-agent-osx-arm64-4.264.2.tar.gz` and `pipelines-agent-…` name their version. */
const VERSION_IN_FILE_NAME = /-(\d+\.\d+\.\d+)\.tar\.gz$/;

/**
 * The connection's mirror when it has one, else the organization's newest package for the
 * template's architecture. A pre-registered agent is registered with the version it will run
 * (agent-registration.md §6): from the mirror's file name, else from the packages API.
 */
export async function chooseAgentPackage(
  azdo: AzureDevOpsClient,
  agent: AgentSettings,
  arch: string | undefined,
): Promise<AgentPackageChoice> {
  const mirror = agent.agentDownloadUrl;
  const needsVersion = agent.registration === "preregistered";
  const mirrorVersion = mirror ? packageVersionFromUrl(mirror) : undefined;
  if (mirror && (!needsVersion || mirrorVersion)) return { url: mirror, version: mirrorVersion };
  const latest = await azdo.latestAgentPackage(agentPlatformFor(arch));
  return { url: mirror || latest.downloadUrl, version: latest.version };
}

/** The version a package URL's file name carries, if it does. */
export function packageVersionFromUrl(url: string): string | undefined {
  return VERSION_IN_FILE_NAME.exec(new URL(url).pathname)?.[1];
}

export interface PreregisterRequest {
  pool: AgentPool;
  agentName: string;
  agentIdentifier: string;
  /** The version of the package the VM runs. */
  agentVersion: string;
  /** Template architecture (`arm64`, `amd64`). */
  arch: string | undefined;
  extraCapabilities?: Record<string, string>;
}

export interface PreregisterOptions {
  registerSecret?: SecretRegistry;
  /** A fixed key instead of a fresh one (tests: the secret scan must know it). */
  privateKey?: KeyObject;
}

/**
 * agentRegistration `preregistered`: a fresh key pair, the agent registered with its public half
 * (an agent of that name is replaced), the identity capability set as a user capability so the
 * agent's own scans cannot drop it, and the files for the VM. The private key is masked before it
 * exists anywhere else. Remove the agent (removeAgents) if the VM does not start.
 */
export async function preregisterAgent(
  azdo: AzureDevOpsClient,
  request: PreregisterRequest,
  options: PreregisterOptions = {},
): Promise<AgentFiles> {
  const key = createAgentKey(options.privateKey ?? (await generateAgentPrivateKey()));
  options.registerSecret?.(key.rsaParamsFile);
  options.registerSecret?.(JSON.stringify(key.rsaParamsFile).slice(1, -1));
  for (const value of key.privateValues) options.registerSecret?.(value);
  const architecture = agentPlatformFor(request.arch) === "osx-x64" ? "X64" : "ARM64";
  const registered = await registerAgentWithKey(azdo, request.pool, {
    name: request.agentName,
    version: request.agentVersion,
    // The host cannot see the VM's uname; the agent's first session reports the real one.
    osDescription: `Darwin (${architecture}, pre-registered by anka-azure-pipelines)`,
    publicKey: key.publicKey,
    systemCapabilities: {
      "Agent.Name": request.agentName,
      "Agent.Version": request.agentVersion,
      "Agent.OS": "Darwin",
      "Agent.OSArchitecture": architecture,
    },
    userCapabilities: {
      [AGENT_IDENTIFIER_CAPABILITY]: request.agentIdentifier,
      ...request.extraCapabilities,
    },
  });
  return renderAgentFiles(registered, key.rsaParamsFile);
}

/**
 * Runs the steps up to a VM's start request. When an agent was pre-registered for that VM and they
 * fail, no VM will ever run it: it is removed (best effort) before the error goes on.
 */
export async function unregisterUnlessStarted<T>(
  registered: boolean,
  target: { agentName: string; pool: AgentPool },
  azdo: AzureDevOpsClient,
  log: Pick<Logger, "info" | "warn">,
  steps: () => Promise<T>,
): Promise<T> {
  try {
    return await steps();
  } catch (error) {
    if (registered) {
      log.info(`Removing pre-registered agent ${target.agentName}: its VM was not started`);
      await removeAgents(target, azdo).catch((removal: Error) =>
        log.warn(
          `Could not remove agent ${target.agentName}: ${removal.message}. Run \`anka-azdo cleanup\`.`,
        ),
      );
    }
    throw error;
  }
}
