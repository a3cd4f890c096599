import type { AgentFiles } from "./agent-files.ts";

/** What the startup script needs to register one single-use agent inside the VM. */
export interface BootstrapValues {
  /** Organization (or collection) URL the agent registers with. */
  azureDevOpsUrl: string;
  /** Self-hosted agent pool name. */
  pool: string;
  /** The agent's name: `agentNameFor(agentIdentifier)` for the Start task. */
  agentName: string;
  /** Exact value of the agent's `ANKA_AGENT_IDENTIFIER` capability (contract §3). */
  agentIdentifier: string;
  /** Secret: the PAT used for registration only (Agent Pools: read & manage). Absent with agentFiles. */
  pat?: string;
  /**
   * agentRegistration `preregistered`: the files of an agent registered from outside the VM, which
   * the script writes instead of running config.sh. The VM then gets no PAT at all.
   */
  agentFiles?: AgentFiles;
  /** Agent package (`.tar.gz`) URL, resolved by the task. */
  agentPackageUrl: string;
  /** macOS user the agent runs as, via password-less `sudo -n -u`; default: the logged-in user. */
  agentUser?: string;
  /** Agent folder; absolute, or `~/…` / `$HOME/…` of the agent user. Default `~/azp-agent`. */
  agentPath?: string;
  /** Folder of the startup and agent logs; same forms as agentPath. Default `<agentPath>/_diag`. */
  agentLogPath?: string;
  /** Proxy for the agent package download and for the agent (`config.sh --proxyurl`). */
  proxyUrl?: string;
  /** More capabilities (e.g. `anka-template`); names `[A-Za-z0-9._-]`. */
  extraCapabilities?: Record<string, string>;
}

/** The capability that binds a build job to its VM: `demands: ANKA_AGENT_IDENTIFIER -equals <id>`. */
export const AGENT_IDENTIFIER_CAPABILITY = "ANKA_AGENT_IDENTIFIER";

/** `anka-<agentIdentifier>`, every character outside `[A-Za-z0-9._-]` replaced by `-` (contract §3). */
export function agentNameFor(agentIdentifier: string): string {
  // The `u` flag makes a character outside the BMP (an emoji) one `-`, not two.
  return `anka-${agentIdentifier.replace(/[^A-Za-z0-9._-]/gu, "-")}`;
}
