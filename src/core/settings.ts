/**
 * Everything about the pool and the agent that a service connection (or the CLI's config) says.
 * Plain data, validated by the adapter that read it.
 */
export interface AgentSettings {
  /** Self-hosted pool the VMs' agents join. */
  pool: string;
  /** Organization URL the agents register with. */
  azureDevOpsUrl: string;
  /** PAT with scope Agent Pools (read & manage): registers and removes agents. */
  pat: string;
  agentUser?: string;
  agentPath?: string;
  agentLogPath?: string;
  agentProxyUrl?: string;
  /** Mirror of the agent package; when absent the organization is asked. */
  agentDownloadUrl?: string;
  /** Connection-level custom startup script replacing the built-in one. */
  startupScript?: string;
  /**
   * `inVm` (absent): the VM runs config.sh with the PAT. `preregistered`: the agent is registered
   * from outside with its own key and the VM gets only its files, never the PAT (contract §2).
   */
  registration?: AgentRegistrationMode;
}

export type AgentRegistrationMode = "inVm" | "preregistered";
export const AGENT_REGISTRATION_MODES: readonly AgentRegistrationMode[] = ["inVm", "preregistered"];

/** Written into every instance's metadata, so that `cleanup` and `list` find what we created. */
export const CREATED_BY_METADATA_KEY = "created_by";
export const CREATED_BY_VALUE = "anka-azure-pipelines";
export const RUN_URL_METADATA_KEY = "azdo_run";
export const POOL_METADATA_KEY = "azdo_pool";
export const AGENT_METADATA_KEY = "azdo_agent";
/** On VMs of the elastic pool service: the class it started the VM for. `cleanup` leaves those to it. */
export const POOL_CLASS_METADATA_KEY = "anka_pool_class";
