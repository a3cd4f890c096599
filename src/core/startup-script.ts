import { encodeStartupScript } from "../anka/index.ts";
import {
  type AgentFiles,
  renderBuiltInStartupScript,
  renderCustomStartupScript,
  validateBootstrapValues,
  type BootstrapValues,
} from "../bootstrap/index.ts";
import type { SecretRegistry } from "./ports.ts";
import type { AgentSettings } from "./settings.ts";

/** What one VM's agent is: the parts of the startup script that differ from VM to VM. */
export interface AgentIdentity {
  pool: string;
  agentName: string;
  agentIdentifier: string;
  agentPackageUrl: string;
  extraCapabilities?: Record<string, string>;
}

/**
 * The startup script for one VM, from the connection's agent settings: the custom script when
 * one is given (task input first, then the connection's), else the built-in one. The base64 the
 * controller receives is masked before anything could log it. With `agentFiles` (agentRegistration
 * preregistered) the script writes those instead of running config.sh.
 */
export function startupScriptFor(
  agent: AgentSettings,
  identity: AgentIdentity,
  options: { customScript?: string; registerSecret?: SecretRegistry; agentFiles?: AgentFiles },
): { script: string; custom: boolean } {
  const values: BootstrapValues = {
    azureDevOpsUrl: agent.azureDevOpsUrl,
    pool: identity.pool,
    agentName: identity.agentName,
    agentIdentifier: identity.agentIdentifier,
    // A pre-registered agent's VM gets its files instead, and no form of the PAT.
    ...(options.agentFiles ? { agentFiles: options.agentFiles } : { pat: agent.pat }),
    agentPackageUrl: identity.agentPackageUrl,
    agentUser: agent.agentUser || undefined,
    agentPath: agent.agentPath || undefined,
    agentLogPath: agent.agentLogPath || undefined,
    proxyUrl: agent.agentProxyUrl || undefined,
    extraCapabilities: identity.extraCapabilities,
  };
  validateBootstrapValues(values);
  const custom = options.customScript || agent.startupScript;
  const script = custom ? renderCustomStartupScript(custom, values) : renderBuiltInStartupScript(values);
  options.registerSecret?.(encodeStartupScript(script));
  return { script, custom: Boolean(custom) };
}
