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
  /** With `includeLastCompletedRequest`: the last job the agent finished (a single-use agent is then spent). */
  lastCompletedRequest?: { requestId: number; result?: string };
  /** When the agent last went online or offline (registration counts as a change). */
  statusChangedOn?: string;
}

/**
 * A job request of a pool (reference startup-scripts-and-job-requests.md B4): queued while it has no
 * `assignTime`, `reservedAgent` or `result`; running once assigned; finished with a `result`.
 */
export interface JobRequest {
  requestId: number;
  queueTime?: string;
  assignTime?: string;
  receiveTime?: string;
  finishTime?: string;
  result?: string;
  /** Normalised to Azure DevOps' string form: `name`, `name -equals value`, `name -gtVersion 1.2`. */
  demands: string[];
  reservedAgent?: { id: number; name: string };
  jobId?: string;
  jobName?: string;
  planId?: string;
  /** Absent when the service did not send it (e.g. with `$top`). */
  matchedAgents?: { id: number; name: string }[];
  /** For builds: `owner.id` is the build id, `owner.name` the build number. */
  owner?: { id?: number; name?: string };
  definition?: { id?: number; name?: string };
}

export type JobRequestStatus = "queued" | "running" | "finished";

/**
 * B4: queued = no assignTime, no reservedAgent, no result; finished = a result, or a finishTime:
 * recorded finished requests exist with `finishTime` and no `result` (fact 15).
 */
export function jobRequestStatus(request: JobRequest): JobRequestStatus {
  if (isFinished(request)) return "finished";
  if (request.assignTime !== undefined || request.reservedAgent !== undefined) return "running";
  return "queued";
}

/** What registering an agent over REST sends (reference azure-pipelines-agent.md §2 step 9). */
export interface NewAgent {
  name: string;
  version: string;
  osDescription?: string;
  enabled?: boolean;
  /** RSA public key as base64 byte arrays (`exponent` "AQAB", 256-byte `modulus` for RSA-2048). */
  publicKey: { exponent: string; modulus: string };
  systemCapabilities?: Record<string, string>;
  userCapabilities?: Record<string, string>;
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

export function isFinished(request: Pick<JobRequest, "result" | "finishTime">): boolean {
  return (request.result !== undefined && request.result !== null) || request.finishTime !== undefined;
}
