import { isNotFound, type AnkaClient, type Instance } from "../anka/index.ts";
import type { Agent, AgentPool, AzureDevOpsClient } from "../azdo/index.ts";
import {
  ageOf,
  agentNameOf,
  agentsByName,
  isCreatedByUs,
  isLive,
  poolOf,
  presenceOf,
  samePool,
} from "./list.ts";
import type { Logger } from "./ports.ts";
import { POOL_CLASS_METADATA_KEY } from "./settings.ts";

/**
 * What a crashed pipeline, a killed agent or a VM that died leaves behind: instances this project
 * created whose agent is gone, and offline `anka-*` agents that no live instance carries. Finding
 * them changes nothing; `removeLeftovers` removes what `findLeftovers` found. Used by
 * `anka-azdo cleanup`, and meant for a scheduled pipeline task later.
 */
export interface CleanupContext {
  anka: AnkaClient;
  azdo: AzureDevOpsClient;
  /** The pool the connection names. */
  pool: string;
  now?: number;
}

export interface FindLeftoversOptions {
  /** Only instances created longer ago than this are candidates (a start in progress is young). */
  olderThanMs: number;
}

/** The agent record(s) of a leftover instance, removed with it. */
export interface AgentRecord {
  id: number;
  name: string;
  status: string;
}

export interface LeftoverInstance {
  instanceId: string;
  state: string;
  createdAt?: string;
  ageMs: number;
  templateId: string;
  externalId?: string;
  agentName?: string;
  /** offline: registered but not connected; missing: not in the pool at all. */
  agentStatus: "offline" | "missing";
  agents: AgentRecord[];
}

export interface LeftoverAgent {
  agentId: number;
  agentName: string;
  status: string;
  createdOn?: string;
}

/** Something of ours that is not a leftover, and why (so a dry run explains what it spares). */
export interface KeptInstance {
  instanceId: string;
  agentName?: string;
  reason: string;
}

export interface Leftovers {
  pool: AgentPool;
  olderThanMs: number;
  instances: LeftoverInstance[];
  agents: LeftoverAgent[];
  kept: KeptInstance[];
}

/** Agents the pool service (contract §6) runs carry this capability; it manages their life itself. */
const POOL_SERVICE_CAPABILITY = "anka-class";
const AGENT_PREFIX = "anka-";

/**
 * Leftover instances: created by this project for this pool, live, older than `olderThanMs`, and
 * whose agent is offline or not in the pool. An instance whose agent is online is working (a long
 * build) and is kept, whatever its age. An instance without a readable creation time is kept.
 *
 * Leftover agents: offline, named `anka-*`, and carried by no live instance (whatever its age or
 * creator): while an instance lives, its agent may still be registering or about to come online.
 * Agents of the pool service (capability `anka-class`) are its own business and never listed.
 */
export async function findLeftovers(ctx: CleanupContext, options: FindLeftoversOptions): Promise<Leftovers> {
  if (!(Number.isFinite(options.olderThanMs) && options.olderThanMs >= 0))
    throw new Error(`olderThanMs must be a non-negative number; got ${options.olderThanMs}`);
  const now = ctx.now ?? Date.now();
  const [instances, pool] = await Promise.all([ctx.anka.listInstances(), ctx.azdo.findPool(ctx.pool)]);
  const agents = await ctx.azdo.listAgents(pool);
  const byName = agentsByName(agents);
  const live = instances.filter(isLive);

  const leftovers: Leftovers = {
    pool,
    olderThanMs: options.olderThanMs,
    instances: [],
    agents: [],
    kept: [],
  };
  // The pool service's VMs are its own business, like its agents: a slow start is not a leftover.
  for (const instance of live.filter(
    (i) => isCreatedByUs(i) && i.metadata?.[POOL_CLASS_METADATA_KEY] === undefined,
  )) {
    const verdict = judgeInstance(instance, pool, byName, now, options.olderThanMs);
    if ("reason" in verdict) leftovers.kept.push(verdict);
    else leftovers.instances.push(verdict);
  }

  // Every live instance protects its agent, ours or not: the name is the only link we have.
  const carried = new Set(live.map(agentNameOf).filter((name): name is string => name !== undefined));
  for (const agent of agents) {
    if (agent.status === "online" || !agent.name.startsWith(AGENT_PREFIX) || carried.has(agent.name))
      continue;
    if (hasCapability(agent, POOL_SERVICE_CAPABILITY)) continue;
    leftovers.agents.push({
      agentId: agent.id,
      agentName: agent.name,
      status: agent.status,
      createdOn: agent.createdOn,
    });
  }
  leftovers.instances.sort((a, b) => b.ageMs - a.ageMs);
  leftovers.agents.sort((a, b) => a.agentName.localeCompare(b.agentName) || a.agentId - b.agentId);
  return leftovers;
}

function judgeInstance(
  instance: Instance,
  pool: AgentPool,
  byName: Map<string, Agent[]>,
  now: number,
  olderThanMs: number,
): LeftoverInstance | KeptInstance {
  const agentName = agentNameOf(instance);
  const keep = (reason: string): KeptInstance => ({ instanceId: instance.id, agentName, reason });
  const instancePool = poolOf(instance);
  if (!samePool(instancePool, pool.name))
    return keep(
      instancePool
        ? `its agent belongs to pool "${instancePool}", not "${pool.name}"`
        : "it does not say which pool its agent joined",
    );
  const ageMs = ageOf(instance, now);
  if (ageMs === undefined) return keep("the controller gives no creation time for it");
  if (ageMs <= olderThanMs) return keep(`it is younger than ${formatAge(olderThanMs)}`);
  const records = agentName ? (byName.get(agentName) ?? []) : [];
  const presence = presenceOf(records);
  if (presence === "online") return keep(`its agent ${agentName} is online`);
  return {
    instanceId: instance.id,
    state: instance.state,
    createdAt: instance.createdAt,
    ageMs,
    templateId: instance.templateId,
    externalId: instance.externalId,
    agentName,
    agentStatus: presence,
    agents: records.map((agent) => ({ id: agent.id, name: agent.name, status: agent.status })),
  };
}

function hasCapability(agent: Agent, name: string): boolean {
  const wanted = name.toLowerCase();
  return [...Object.keys(agent.systemCapabilities), ...Object.keys(agent.userCapabilities)].some(
    (key) => key.toLowerCase() === wanted,
  );
}

export type RemovalOutcome = "removed" | "skipped" | "failed";

export interface RemovalRecord {
  kind: "instance" | "agent";
  /** Instance id, or the agent's numeric id as text. */
  id: string;
  name?: string;
  outcome: RemovalOutcome;
  detail?: string;
}

export interface RemovalResult {
  records: RemovalRecord[];
  removed: number;
  skipped: number;
  failed: number;
}

export interface RemoveContext {
  anka: AnkaClient;
  azdo: AzureDevOpsClient;
  log: Logger;
}

/**
 * Removes what `findLeftovers` found, one item at a time, each independently: one failure does not
 * stop the others. Each agent is looked at again first: one that came online since (a slow VM after
 * all) is skipped. An instance goes with its agent records; an instance already gone counts as removed.
 */
export async function removeLeftovers(leftovers: Leftovers, ctx: RemoveContext): Promise<RemovalResult> {
  const records: RemovalRecord[] = [];
  const note = (record: RemovalRecord) => {
    records.push(record);
    const what = `${record.kind} ${record.name ? `${record.name} (${record.id})` : record.id}`;
    if (record.outcome === "removed") ctx.log.info(`Removed ${what}`);
    else if (record.outcome === "skipped") ctx.log.info(`Skipped ${what}: ${record.detail}`);
    else ctx.log.warn(`Could not remove ${what}: ${record.detail}`);
  };
  const { pool } = leftovers;

  for (const leftover of leftovers.instances) {
    const base = { kind: "instance" as const, id: leftover.instanceId, name: leftover.agentName };
    try {
      const current = leftover.agentName ? await ctx.azdo.findAgents(pool, leftover.agentName) : [];
      if (current.some((agent) => agent.status === "online")) {
        note({ ...base, outcome: "skipped", detail: `its agent ${leftover.agentName} came online` });
        continue;
      }
      try {
        await ctx.anka.terminateInstance(leftover.instanceId);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      for (const agent of current) await ctx.azdo.deleteAgent(pool, agent.id);
      note({
        ...base,
        outcome: "removed",
        detail: current.length > 0 ? `and ${current.length} agent record(s)` : undefined,
      });
    } catch (error) {
      note({ ...base, outcome: "failed", detail: (error as Error).message });
    }
  }

  for (const leftover of leftovers.agents) {
    const base = { kind: "agent" as const, id: String(leftover.agentId), name: leftover.agentName };
    try {
      const current = (await ctx.azdo.findAgents(pool, leftover.agentName)).find(
        (agent) => agent.id === leftover.agentId,
      );
      if (!current) {
        note({ ...base, outcome: "removed", detail: "already gone" });
        continue;
      }
      if (current.status === "online") {
        note({ ...base, outcome: "skipped", detail: "it came online" });
        continue;
      }
      await ctx.azdo.deleteAgent(pool, leftover.agentId);
      note({ ...base, outcome: "removed" });
    } catch (error) {
      note({ ...base, outcome: "failed", detail: (error as Error).message });
    }
  }

  const count = (outcome: RemovalOutcome) => records.filter((r) => r.outcome === outcome).length;
  return { records, removed: count("removed"), skipped: count("skipped"), failed: count("failed") };
}

/** 90 s, 45 min, 2 h, 1 d 3 h: for messages and the CLI's AGE column. */
export function formatAge(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  const days = Math.floor(hours / 24);
  return `${days} d ${hours % 24} h`;
}
