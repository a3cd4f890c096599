// The emulated organization: agent pools, agents, sessions, message queues and job requests, and the
// rules that tie them together (registration, online status, dispatch). HTTP lives in routes/.
import { randomUUID } from "node:crypto";
import type { AgentCredentials } from "./agent-credentials.ts";
import { capabilityIndex } from "./capabilities.ts";
import { parseDemand, satisfiesAllIndexed } from "./demands.ts";
import {
  agentBusy,
  agentExists,
  agentNotFound,
  jobRequestNotFound,
  sessionConflict,
  sessionExpired,
} from "./errors.ts";
import { jobMessageBody } from "./job-message.ts";
import { MessageQueues } from "./message-queues.ts";
import type {
  AgentMessage,
  AgentRecord,
  JobRecord,
  PoolRecord,
  PublicKey,
  SessionRecord,
} from "./records.ts";
import { SessionTable } from "./sessions.ts";
import type { HookJobState } from "./service-hooks.ts";
import type { JobResult, PoolConfig, QueueJobOptions } from "./types.ts";

/** How long a job request stays locked after the agent received or renewed it (the listener renews every 60 s, §3). */
const LOCK_DURATION_MS = 5 * 60 * 1000;

export interface OrganizationSettings {
  orgUrl: string;
  pools: PoolConfig[];
  offlineAfterMs: number;
  jobDurationMs: number;
  rejectUnsatisfiable: boolean;
  credentials: AgentCredentials;
  now: () => number;
  /** Told when a job is queued, handed to an agent, or finished (the service-hook events). */
  onJobState?: (job: JobRecord, state: HookJobState) => void;
}

/** What a POST/PUT of a TaskAgent carries (§2 step 9). */
export interface AgentInput {
  name: string;
  version: string;
  osDescription: string;
  maxParallelism: number;
  provisioningState: string;
  enabled?: boolean;
  publicKey?: PublicKey;
  systemCapabilities?: Record<string, string>;
  userCapabilities?: Record<string, string>;
}

export class Organization {
  readonly pools: PoolRecord[];
  readonly sessions: SessionTable;
  readonly messages = new MessageQueues();
  private readonly agentsById = new Map<number, AgentRecord>();
  private readonly jobsById = new Map<number, JobRecord>();
  private lastAgentId = 0;
  private lastRequestId = 0;

  constructor(private readonly settings: OrganizationSettings) {
    this.pools = assignPoolIds(settings.pools, settings.now());
    this.sessions = new SessionTable(settings.offlineAfterMs);
  }

  get now(): number {
    return this.settings.now();
  }

  // ---- pools and agents ----

  poolById(id: number): PoolRecord | undefined {
    return this.pools.find((pool) => pool.id === id);
  }

  poolByName(name: string): PoolRecord | undefined {
    return this.pools.find((pool) => pool.name.toLowerCase() === name.toLowerCase());
  }

  agentsIn(poolId: number): AgentRecord[] {
    return [...this.agentsById.values()].filter((agent) => agent.poolId === poolId);
  }

  agent(pool: PoolRecord, agentId: number): AgentRecord {
    const agent = this.agentsById.get(agentId);
    if (!agent || agent.poolId !== pool.id) throw agentNotFound(pool.id, agentId);
    return agent;
  }

  agentByClientId(clientId: string): AgentRecord | undefined {
    return [...this.agentsById.values()].find((agent) => agent.clientId === clientId);
  }

  isOnline(agent: AgentRecord): boolean {
    const session = this.sessions.forAgent(agent.id);
    return session !== undefined && this.sessions.isLive(session, this.now);
  }

  registerAgent(pool: PoolRecord, input: AgentInput): AgentRecord {
    if (this.agentsIn(pool.id).some((agent) => agent.name.toLowerCase() === input.name.toLowerCase())) {
      throw agentExists(pool.name, input.name);
    }
    const now = this.now;
    const agent: AgentRecord = {
      id: ++this.lastAgentId,
      poolId: pool.id,
      name: input.name,
      version: input.version,
      osDescription: input.osDescription,
      enabled: input.enabled ?? true,
      maxParallelism: input.maxParallelism,
      provisioningState: input.provisioningState,
      createdOn: now,
      statusChangedOn: now,
      systemCapabilities: input.systemCapabilities ?? {},
      // Whether the service keeps userCapabilities from a POST is unverified (B6 [?]); we keep them.
      userCapabilities: input.userCapabilities ?? {},
      clientId: randomUUID(),
      ...(input.publicKey ? { publicKey: input.publicKey } : {}),
    };
    this.agentsById.set(agent.id, agent);
    this.dispatch();
    return agent;
  }

  /** `config.sh --replace` (§2 step 9): same id and user capabilities, new key, version and system capabilities. */
  replaceAgent(pool: PoolRecord, agentId: number, input: AgentInput): AgentRecord {
    const agent = this.agent(pool, agentId);
    const clash = this.agentsIn(pool.id).find(
      (other) => other.id !== agentId && other.name.toLowerCase() === input.name.toLowerCase(),
    );
    if (clash) throw agentExists(pool.name, input.name);
    Object.assign(agent, {
      name: input.name,
      version: input.version,
      osDescription: input.osDescription,
      maxParallelism: input.maxParallelism,
      provisioningState: input.provisioningState,
    });
    if (input.enabled !== undefined) agent.enabled = input.enabled;
    if (input.systemCapabilities) agent.systemCapabilities = input.systemCapabilities;
    if (input.userCapabilities) agent.userCapabilities = input.userCapabilities;
    if (input.publicKey) {
      agent.publicKey = input.publicKey;
      this.settings.credentials.revoke(agent.id);
    }
    this.dispatch();
    return agent;
  }

  updateAgent(
    pool: PoolRecord,
    agentId: number,
    patch: { enabled?: boolean; maxParallelism?: number },
  ): AgentRecord {
    const agent = this.agent(pool, agentId);
    if (patch.enabled !== undefined) agent.enabled = patch.enabled;
    if (patch.maxParallelism !== undefined) agent.maxParallelism = patch.maxParallelism;
    this.dispatch();
    return agent;
  }

  setUserCapabilities(pool: PoolRecord, agentId: number, capabilities: Record<string, string>): AgentRecord {
    const agent = this.agent(pool, agentId);
    agent.userCapabilities = capabilities;
    this.dispatch();
    return agent;
  }

  deleteAgent(pool: PoolRecord, agentId: number): void {
    const agent = this.agent(pool, agentId);
    const running =
      agent.assignedRequestId === undefined ? undefined : this.jobsById.get(agent.assignedRequestId);
    if (running && isTaken(running)) throw agentBusy(agent.name, pool.name);
    this.releaseAssignment(agent);
    this.sessions.deleteForAgent(agent.id);
    this.messages.drop(agent.id);
    this.settings.credentials.revoke(agent.id);
    this.agentsById.delete(agent.id);
    this.dispatch();
  }

  // ---- sessions and messages (§3) ----

  createSession(
    pool: PoolRecord,
    agentId: number,
    ownerName: string,
    update: { version?: string; osDescription?: string; systemCapabilities?: Record<string, string> },
  ): SessionRecord {
    const agent = this.agent(pool, agentId);
    const existing = this.sessions.forAgent(agent.id);
    if (existing) throw sessionConflict(agent.name, existing.ownerName);
    // The listener sends a fresh capability scan with every session (§1 "When collected" (b)); the
    // session is the only channel that carries it, so the service must store it [I].
    if (update.systemCapabilities) agent.systemCapabilities = update.systemCapabilities;
    if (update.version) agent.version = update.version;
    if (update.osDescription) agent.osDescription = update.osDescription;
    const session = this.sessions.create(pool.id, agent.id, ownerName, this.now);
    agent.statusChangedOn = this.now;
    this.dispatch();
    return session;
  }

  session(pool: PoolRecord, sessionId: string): SessionRecord {
    const session = this.sessions.get(sessionId);
    if (!session || session.poolId !== pool.id) throw sessionExpired(sessionId);
    return session;
  }

  deleteSession(pool: PoolRecord, sessionId: string): void {
    const session = this.session(pool, sessionId);
    this.sessions.delete(session.sessionId);
    this.endSession(session, "The agent closed its session while running the job.");
  }

  /** Long poll: the next message for the session's agent, or undefined after `waitMs` without one. */
  async pollMessage(
    session: SessionRecord,
    lastMessageId: number | undefined,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<AgentMessage | undefined> {
    session.pollsInFlight++;
    try {
      const deadline = this.now + waitMs;
      for (;;) {
        if (this.sessions.get(session.sessionId) !== session) throw sessionExpired(session.sessionId);
        // A listener that hung up (e.g. a --once agent stopping) must not be counted as having received a job.
        if (signal.aborted) return undefined;
        const message = this.messages.next(session.agentId, lastMessageId);
        if (message) {
          this.markReceived(message);
          return message;
        }
        const remaining = deadline - this.now;
        if (remaining <= 0) return undefined;
        await this.messages.waitFor(session.agentId, remaining, signal);
      }
    } finally {
      session.pollsInFlight--;
      session.lastSeenAt = this.now;
    }
  }

  deleteMessage(session: SessionRecord, messageId: number): void {
    const requestId = this.messages.find(session.agentId, messageId)?.requestId;
    const job = requestId === undefined ? undefined : this.jobsById.get(requestId);
    if (job?.receiveTime !== undefined) job.acknowledged = true;
    this.messages.remove(session.agentId, messageId);
  }

  // ---- job requests ----

  queueJob(pool: PoolRecord, demands: string[], options: QueueJobOptions = {}): JobRecord {
    const requestId = ++this.lastRequestId;
    const job: JobRecord = {
      requestId,
      poolId: pool.id,
      name: options.name ?? `Job ${requestId}`,
      demands: [...demands],
      durationMs: options.durationMs ?? this.settings.jobDurationMs,
      plannedResult: options.result ?? "succeeded",
      planId: randomUUID(),
      jobId: randomUUID(),
      lockToken: randomUUID(),
      queueTime: this.now,
    };
    this.jobsById.set(requestId, job);
    if (this.settings.rejectUnsatisfiable && !this.hasMatchingAgent(job)) {
      // B6: text as the service logs it when no registered agent satisfies the demands.
      job.result = "failed";
      job.finishTime = this.now;
      job.statusMessage = `No agent found in pool ${pool.name} which satisfies the specified demands: ${demands.join(", ")}`;
      this.settings.onJobState?.(job, "completed");
      return job;
    }
    this.settings.onJobState?.(job, "waiting");
    this.dispatch();
    return job;
  }

  job(requestId: number): JobRecord | undefined {
    return this.jobsById.get(requestId);
  }

  jobsIn(poolId: number): JobRecord[] {
    return [...this.jobsById.values()].filter((job) => job.poolId === poolId);
  }

  poolJob(pool: PoolRecord, requestId: number): JobRecord {
    const job = this.jobsById.get(requestId);
    if (!job || job.poolId !== pool.id) throw jobRequestNotFound(requestId);
    return job;
  }

  /** Registered agents whose capabilities satisfy the job's demands, whatever their status (B6). */
  matchingAgents(job: JobRecord): AgentRecord[] {
    const demands = job.demands.map(parseDemand);
    return this.agentsIn(job.poolId).filter((agent) =>
      satisfiesAllIndexed(capabilityIndex(agent.systemCapabilities, agent.userCapabilities), demands),
    );
  }

  /** Whether any registered agent, whatever its status, satisfies the job's demands (stops at the first). */
  private hasMatchingAgent(job: JobRecord): boolean {
    const demands = job.demands.map(parseDemand);
    for (const agent of this.agentsById.values()) {
      if (
        agent.poolId === job.poolId &&
        satisfiesAllIndexed(capabilityIndex(agent.systemCapabilities, agent.userCapabilities), demands)
      )
        return true;
    }
    return false;
  }

  /** The listener's lock renewal (PATCH without result) or its finish (PATCH with result), §3 "Job run". */
  updateJob(job: JobRecord, result: JobResult | undefined): JobRecord {
    if (job.result !== undefined) return job;
    job.acknowledged = true;
    if (result === undefined) {
      job.receiveTime ??= this.now;
      job.lockedUntil = this.now + LOCK_DURATION_MS;
      return job;
    }
    this.finishJob(job, result);
    return job;
  }

  // ---- housekeeping ----

  /** Expires sessions that stopped polling (agent goes offline) and gives their work back. */
  sweep(): void {
    for (const session of this.sessions.expireStale(this.now)) {
      this.endSession(
        session,
        "We stopped hearing from the agent. Verify the agent machine is running and has a healthy network connection.",
      );
    }
  }

  private endSession(session: SessionRecord, failure: string): void {
    const agent = this.agentsById.get(session.agentId);
    if (!agent) return;
    agent.statusChangedOn = this.now;
    const job =
      agent.assignedRequestId === undefined ? undefined : this.jobsById.get(agent.assignedRequestId);
    if (job && isTaken(job)) {
      job.statusMessage = failure;
      this.finishJob(job, "failed");
    } else {
      this.releaseAssignment(agent);
      this.dispatch();
    }
  }

  private finishJob(job: JobRecord, result: JobResult): void {
    job.result = result;
    job.finishTime = this.now;
    job.lockedUntil = undefined;
    const agent = job.reservedAgentId === undefined ? undefined : this.agentsById.get(job.reservedAgentId);
    if (agent && agent.assignedRequestId === job.requestId) {
      agent.assignedRequestId = undefined;
      agent.lastCompletedRequestId = job.requestId;
    }
    this.settings.onJobState?.(job, "completed");
    this.dispatch();
  }

  /** A job assigned but not taken yet (handed out at most) goes back to the queue. */
  private releaseAssignment(agent: AgentRecord): void {
    if (agent.assignedRequestId === undefined) return;
    const job = this.jobsById.get(agent.assignedRequestId);
    agent.assignedRequestId = undefined;
    if (!job || job.result !== undefined) return;
    this.messages.removeWhere(agent.id, (message) => message.requestId === job.requestId);
    job.assignTime = undefined;
    job.receiveTime = undefined;
    job.lockedUntil = undefined;
    job.reservedAgentId = undefined;
    job.reservedAgentName = undefined;
  }

  private markReceived(message: AgentMessage): void {
    const job = message.requestId === undefined ? undefined : this.jobsById.get(message.requestId);
    if (!job || job.receiveTime !== undefined) return;
    job.receiveTime = this.now;
    job.lockedUntil = this.now + LOCK_DURATION_MS;
  }

  /**
   * Gives each queued job, oldest first, to an online, enabled, idle agent of its pool whose
   * capabilities satisfy every demand. Jobs with no such agent wait (B6: offline or disabled
   * matching agents make a job wait, not fail).
   */
  private dispatch(): void {
    // Only free agents can take a job: matching is done against them alone (capabilities indexed
    // once per pass), and the pass ends when none is left. Same choice as matching every agent of
    // the pool and taking the first free one: `free` keeps the registration order.
    const free = [...this.agentsById.values()]
      .filter((agent) => agent.enabled && agent.assignedRequestId === undefined && this.isOnline(agent))
      .map((agent) => ({ agent, index: capabilityIndex(agent.systemCapabilities, agent.userCapabilities) }));
    if (free.length === 0) return;
    const queued = [...this.jobsById.values()]
      .filter((job) => job.result === undefined && job.reservedAgentId === undefined)
      .sort((a, b) => a.requestId - b.requestId);
    for (const job of queued) {
      if (free.length === 0) break;
      const demands = job.demands.map(parseDemand);
      const match = free.find(
        (candidate) => candidate.agent.poolId === job.poolId && satisfiesAllIndexed(candidate.index, demands),
      );
      if (!match) continue;
      free.splice(free.indexOf(match), 1);
      const { agent } = match;
      job.assignTime = this.now;
      job.reservedAgentId = agent.id;
      job.reservedAgentName = agent.name;
      agent.assignedRequestId = job.requestId;
      this.messages.push(agent.id, {
        messageType: "PipelineAgentJobRequest",
        body: JSON.stringify(jobMessageBody(job, this.settings.orgUrl)),
        requestId: job.requestId,
      });
      this.settings.onJobState?.(job, "inProgress");
    }
  }
}

/** Running for real: handed out and taken by the agent (not merely on a poll answer it never used). */
function isTaken(job: JobRecord): boolean {
  return job.receiveTime !== undefined && job.acknowledged === true;
}

function assignPoolIds(pools: PoolConfig[], now: number): PoolRecord[] {
  let next = Math.max(0, ...pools.map((pool) => pool.id ?? 0)) + 1;
  return pools.map((pool) => ({ id: pool.id ?? next++, name: pool.name, createdOn: now }));
}
