/** The parts of Azure DevOps' agent pool model that we use (REST api-version 7.1, camelCase). */
export interface AgentPool {
  id: number;
  name: string;
  isHosted?: boolean;
}

export interface Agent {
  id: number;
  name: string;
  status: "online" | "offline" | (string & {});
  enabled?: boolean;
  version?: string;
  createdOn?: string;
  systemCapabilities: Record<string, string>;
  userCapabilities: Record<string, string>;
  assignedRequest?: { requestId: number };
}

/** `osx-arm64` or `osx-x64`: the agent build for a template's architecture. */
export type AgentPlatform = "osx-arm64" | "osx-x64" | "linux-x64" | (string & {});

export interface AgentPackage {
  platform: string;
  version: string;
  downloadUrl: string;
  hashValue?: string;
  filename?: string;
}

/** Anka reports `arm64` or `amd64` (reference anka-controller-api.md §4.1). */
export function agentPlatformFor(arch: string | undefined): AgentPlatform {
  return arch === "amd64" || arch === "x86_64" ? "osx-x64" : "osx-arm64";
}
