// Wire JSON (camelCase, as the REST API answers) and the typed views the object API hands to tests.
import type { Organization } from "./organization.ts";
import type { AgentRecord, JobRecord, PoolRecord, SessionRecord } from "./records.ts";
import type { AgentJobReference, AgentView, JobView, PoolView } from "./types.ts";

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * Dates as the service writes them (fact 4): UTC with `Z` and the fraction's trailing zeros trimmed,
 * so 1 to 7 digits (".3Z", ".847Z"); whole seconds drop the fraction (our inference).
 */
export const wireDate = (ms: number | undefined) =>
  iso(ms)?.replace(/\.(\d*?)0+Z$/, (_, digits: string) => (digits ? `.${digits}Z` : "Z"));

const nonEmpty = (key: string, map: Record<string, string>) =>
  Object.keys(map).length > 0 ? { [key]: map } : {};

// ---- pools ----

export function poolJson(pool: PoolRecord, organization: Organization) {
  return {
    createdOn: wireDate(pool.createdOn),
    autoProvision: false,
    autoUpdate: true,
    autoSize: true,
    targetSize: null,
    agentCloudId: null,
    id: pool.id,
    scope: "00000000-0000-0000-0000-000000000000",
    name: pool.name,
    isHosted: false,
    poolType: "automation",
    size: organization.agentsIn(pool.id).length,
    isLegacy: false,
    options: "none",
  };
}

export function poolView(pool: PoolRecord, organization: Organization): PoolView {
  return {
    id: pool.id,
    name: pool.name,
    isHosted: false,
    poolType: "automation",
    size: organization.agentsIn(pool.id).length,
    createdOn: iso(pool.createdOn) as string,
  };
}

// ---- agents ----

export interface AgentJsonOptions {
  includeCapabilities?: boolean;
  includeAssignedRequest?: boolean;
  includeLastCompletedRequest?: boolean;
  /** Registration answers carry authorizationUrl (§2 step 10). */
  authorizationUrl?: string;
}

export function agentJson(
  agent: AgentRecord,
  organization: Organization,
  orgUrl: string,
  options: AgentJsonOptions = {},
) {
  const href = `${orgUrl}/_apis/distributedtask/pools/${agent.poolId}/agents/${agent.id}`;
  return {
    _links: {
      self: { href },
      web: { href: `${orgUrl}/_settings/agentpools?poolId=${agent.poolId}&agentId=${agent.id}` },
    },
    maxParallelism: agent.maxParallelism,
    createdOn: wireDate(agent.createdOn),
    authorization: {
      ...(options.authorizationUrl ? { authorizationUrl: options.authorizationUrl } : {}),
      clientId: agent.clientId,
      ...(agent.publicKey ? { publicKey: agent.publicKey } : {}),
    },
    id: agent.id,
    name: agent.name,
    version: agent.version,
    osDescription: agent.osDescription,
    enabled: agent.enabled,
    status: organization.isOnline(agent) ? "online" : "offline",
    provisioningState: agent.provisioningState,
    statusChangedOn: wireDate(agent.statusChangedOn),
    // §2 step 10: the agent reads properties.ServerUrl; PropertiesCollection values are typed.
    properties: { ServerUrl: { $type: "System.String", $value: `${orgUrl}/` } },
    // Fact 3: maps the agent does not have are left out, not sent empty (recorded: no userCapabilities key).
    ...(options.includeCapabilities ? nonEmpty("systemCapabilities", agent.systemCapabilities) : {}),
    ...(options.includeCapabilities ? nonEmpty("userCapabilities", agent.userCapabilities) : {}),
    ...(options.includeAssignedRequest && agent.assignedRequestId !== undefined
      ? { assignedRequest: jobRefJson(organization.job(agent.assignedRequestId)) }
      : {}),
    ...(options.includeLastCompletedRequest && agent.lastCompletedRequestId !== undefined
      ? { lastCompletedRequest: jobRefJson(organization.job(agent.lastCompletedRequestId)) }
      : {}),
  };
}

export function agentReferenceJson(agent: AgentRecord, organization: Organization) {
  return {
    id: agent.id,
    name: agent.name,
    version: agent.version,
    osDescription: agent.osDescription,
    enabled: agent.enabled,
    status: organization.isOnline(agent) ? "online" : "offline",
    provisioningState: agent.provisioningState,
  };
}

export function agentView(agent: AgentRecord, organization: Organization): AgentView {
  const assigned =
    agent.assignedRequestId === undefined ? undefined : organization.job(agent.assignedRequestId);
  const last =
    agent.lastCompletedRequestId === undefined ? undefined : organization.job(agent.lastCompletedRequestId);
  return {
    id: agent.id,
    name: agent.name,
    status: organization.isOnline(agent) ? "online" : "offline",
    enabled: agent.enabled,
    version: agent.version,
    osDescription: agent.osDescription,
    systemCapabilities: { ...agent.systemCapabilities },
    userCapabilities: { ...agent.userCapabilities },
    createdOn: iso(agent.createdOn) as string,
    statusChangedOn: iso(agent.statusChangedOn) as string,
    ...(assigned ? { assignedRequest: jobReference(assigned) } : {}),
    ...(last ? { lastCompletedRequest: jobReference(last) } : {}),
  };
}

const jobReference = (job: JobRecord): AgentJobReference => ({
  requestId: job.requestId,
  name: job.name,
  ...(job.result ? { result: job.result } : {}),
});

// ---- sessions ----

export function sessionJson(session: SessionRecord, agent: AgentRecord, organization: Organization) {
  // No encryptionKey: message bodies stay plain (§3 "Encrypted only if the session returned an encryptionKey").
  return {
    sessionId: session.sessionId,
    ownerName: session.ownerName,
    agent: agentReferenceJson(agent, organization),
    systemCapabilities: agent.systemCapabilities,
  };
}

// ---- job requests (startup-scripts-and-job-requests.md B4) ----

function jobRefJson(job: JobRecord | undefined) {
  if (!job) return undefined;
  return {
    requestId: job.requestId,
    queueTime: wireDate(job.queueTime),
    ...(job.result ? { result: job.result } : {}),
  };
}

export function jobJson(job: JobRecord, organization: Organization, options: { matchedAgents: boolean }) {
  const matched = options.matchedAgents
    ? organization.matchingAgents(job).map((agent) => agentReferenceJson(agent, organization))
    : [];
  const reserved =
    job.reservedAgentId === undefined
      ? undefined
      : organization.agentsIn(job.poolId).find((a) => a.id === job.reservedAgentId);
  return {
    requestId: job.requestId,
    queueTime: wireDate(job.queueTime),
    ...(job.assignTime !== undefined ? { assignTime: wireDate(job.assignTime) } : {}),
    ...(job.receiveTime !== undefined ? { receiveTime: wireDate(job.receiveTime) } : {}),
    ...(job.finishTime !== undefined ? { finishTime: wireDate(job.finishTime) } : {}),
    ...(job.lockedUntil !== undefined ? { lockedUntil: wireDate(job.lockedUntil) } : {}),
    ...(job.result !== undefined ? { result: job.result } : {}),
    ...(job.statusMessage !== undefined ? { statusMessage: job.statusMessage } : {}),
    serviceOwner: "00025394-6065-48ca-87d9-7f5672854ef7",
    hostId: "00000000-0000-0000-0000-000000000000",
    scopeId: "00000000-0000-0000-0000-000000000000",
    planType: "Build",
    planId: job.planId,
    jobId: job.jobId,
    jobName: job.name,
    demands: job.demands,
    // Fact 3: absent when empty (recorded keda), and absent in the paged form (keda#4387).
    ...(options.matchedAgents && matched.length > 0 ? { matchedAgents: matched } : {}),
    ...(job.reservedAgentId !== undefined
      ? {
          reservedAgent: reserved
            ? agentReferenceJson(reserved, organization)
            : { id: job.reservedAgentId, name: job.reservedAgentName },
        }
      : {}),
    definition: { id: 1, name: "emulated-pipeline" },
    owner: { id: job.requestId, name: job.name },
    data: { ParallelismTag: "Private", IsScheduledKey: "False" },
    poolId: job.poolId,
    orchestrationId: `${job.planId}.${job.name.replace(/[^A-Za-z0-9_]/g, "_")}.__default`,
    priority: 0,
  };
}

export function jobView(job: JobRecord): JobView {
  return {
    requestId: job.requestId,
    poolId: job.poolId,
    name: job.name,
    demands: [...job.demands],
    queueTime: iso(job.queueTime) as string,
    ...(job.assignTime !== undefined ? { assignTime: iso(job.assignTime) } : {}),
    ...(job.receiveTime !== undefined ? { receiveTime: iso(job.receiveTime) } : {}),
    ...(job.finishTime !== undefined ? { finishTime: iso(job.finishTime) } : {}),
    ...(job.lockedUntil !== undefined ? { lockedUntil: iso(job.lockedUntil) } : {}),
    ...(job.result !== undefined ? { result: job.result } : {}),
    ...(job.statusMessage !== undefined ? { statusMessage: job.statusMessage } : {}),
    ...(job.reservedAgentId !== undefined
      ? { reservedAgent: { id: job.reservedAgentId, name: job.reservedAgentName ?? "" } }
      : {}),
  };
}
