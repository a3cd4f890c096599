import { latestVersion, type AnkaClient, type Instance } from "../anka/index.ts";
import type { Agent, AgentPool, AzureDevOpsClient } from "../azdo/index.ts";
import { agentNameFor } from "../bootstrap/index.ts";
import {
  AGENT_METADATA_KEY,
  CREATED_BY_METADATA_KEY,
  CREATED_BY_VALUE,
  POOL_METADATA_KEY,
  RUN_URL_METADATA_KEY,
} from "./settings.ts";

/**
 * Where an instance's agent is: online or offline in the configured pool, not there at all, or
 * registered with another pool than the one configured (so its status is not looked up).
 */
export type AgentPresence = "online" | "offline" | "missing" | "other-pool";

/** One instance this project created, as `anka-azdo list` shows it. */
export interface InstanceRow {
  instanceId: string;
  state: string;
  /** The controller's cr_time, as it gave it. */
  createdAt?: string;
  /** Milliseconds since createdAt; undefined when the controller gave no (readable) time. */
  ageMs?: number;
  templateId: string;
  /** undefined when the template is no longer in the registry. */
  templateName?: string;
  tag?: string;
  /** The agentIdentifier given to start. */
  externalId?: string;
  agentName?: string;
  /** The pool the agent was registered with (instance metadata). */
  pool?: string;
  agentStatus: AgentPresence;
  agentId?: number;
  nodeId?: string;
  vmIp?: string;
  runUrl?: string;
}

export interface ListInstancesContext {
  anka: AnkaClient;
  azdo: AzureDevOpsClient;
  /** The pool the connection names: agents are looked up there. */
  pool: string;
  now?: number;
}

export interface ListInstancesOptions {
  /** Also list instances on their way out (Terminating, Terminated). */
  includeTerminated?: boolean;
}

const GONE_STATES = new Set(["Terminating", "Terminated"]);

/** Instances whose metadata says this project created them (`created_by`, see settings.ts). */
export function isCreatedByUs(instance: Instance): boolean {
  return instance.metadata?.[CREATED_BY_METADATA_KEY] === CREATED_BY_VALUE;
}

/** Terminating and Terminated instances hold no node slot and will vanish by themselves. */
export function isLive(instance: Instance): boolean {
  return !GONE_STATES.has(instance.state);
}

/** The agent an instance carries: the metadata start wrote, else the instance name, else the rule. */
export function agentNameOf(instance: Instance): string | undefined {
  const fromMetadata = instance.metadata?.[AGENT_METADATA_KEY];
  if (typeof fromMetadata === "string" && fromMetadata) return fromMetadata;
  if (instance.name) return instance.name;
  return instance.externalId ? agentNameFor(instance.externalId) : undefined;
}

export function poolOf(instance: Instance): string | undefined {
  const pool = instance.metadata?.[POOL_METADATA_KEY];
  return typeof pool === "string" && pool ? pool : undefined;
}

/** Age from the controller's cr_time; undefined when it is missing or unreadable. */
export function ageOf(instance: Instance, now: number): number | undefined {
  const created = instance.createdAt ? Date.parse(instance.createdAt) : NaN;
  return Number.isFinite(created) ? Math.max(0, now - created) : undefined;
}

export function samePool(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}

/** Agents of the pool by name (several records may share one name after a failed --replace). */
export function agentsByName(agents: Agent[]): Map<string, Agent[]> {
  const byName = new Map<string, Agent[]>();
  for (const agent of agents) byName.set(agent.name, [...(byName.get(agent.name) ?? []), agent]);
  return byName;
}

/** Online wins: one online record means the agent is there and working. */
export function presenceOf(records: Agent[] | undefined): "online" | "offline" | "missing" {
  if (!records || records.length === 0) return "missing";
  return records.some((agent) => agent.status === "online") ? "online" : "offline";
}

/**
 * The instances this project created, with their template's name and their agent's status in the
 * pool, oldest first. Three requests in all (instances, templates, the pool's agents) plus the
 * pool lookup, whatever the number of instances.
 */
export async function listCreatedInstances(
  ctx: ListInstancesContext,
  options: ListInstancesOptions = {},
): Promise<InstanceRow[]> {
  const now = ctx.now ?? Date.now();
  const [instances, templates, pool] = await Promise.all([
    ctx.anka.listInstances(),
    ctx.anka.listTemplates(),
    ctx.azdo.findPool(ctx.pool),
  ]);
  const ours = instances.filter((i) => isCreatedByUs(i) && (options.includeTerminated || isLive(i)));
  const agents = agentsByName(await ctx.azdo.listAgents(pool));
  const templateNames = new Map(templates.map((t) => [t.id, t.name]));
  const rows = ours.map((instance) => toRow(instance, pool, agents, templateNames, now));
  return rows.sort((a, b) => (b.ageMs ?? -1) - (a.ageMs ?? -1));
}

function toRow(
  instance: Instance,
  pool: AgentPool,
  agents: Map<string, Agent[]>,
  templateNames: Map<string, string>,
  now: number,
): InstanceRow {
  const agentName = agentNameOf(instance);
  const instancePool = poolOf(instance);
  const inOurPool = instancePool === undefined || samePool(instancePool, pool.name);
  const records = agentName ? agents.get(agentName) : undefined;
  const runUrl = instance.metadata?.[RUN_URL_METADATA_KEY];
  return {
    instanceId: instance.id,
    state: instance.state,
    createdAt: instance.createdAt,
    ageMs: ageOf(instance, now),
    templateId: instance.templateId,
    templateName: templateNames.get(instance.templateId),
    tag: instance.tag,
    externalId: instance.externalId,
    agentName,
    pool: instancePool,
    agentStatus: inOurPool ? presenceOf(records) : "other-pool",
    agentId: inOurPool ? records?.[0]?.id : undefined,
    nodeId: instance.nodeId ?? instance.vminfo?.nodeId,
    vmIp: instance.vminfo?.ip || undefined,
    runUrl: typeof runUrl === "string" ? runUrl : undefined,
  };
}

/** One template of the registry, as `anka-azdo templates` shows it. */
export interface TemplateRow {
  id: string;
  name: string;
  arch?: string;
  /** Tags, newest version first. */
  tags: string[];
  /** The tag "latest" means now (highest version number). */
  latestTag?: string;
}

/** Every template with its tags: one request for the list, then one per template, a few at a time. */
export async function listTemplatesWithTags(anka: AnkaClient): Promise<TemplateRow[]> {
  const summaries = await anka.listTemplates();
  const rows: TemplateRow[] = [];
  const queue = [...summaries];
  const worker = async () => {
    for (let summary = queue.shift(); summary; summary = queue.shift()) {
      const template = await anka.getTemplate(summary.id);
      const versions = [...template.versions].sort((a, b) => b.number - a.number);
      rows.push({
        id: summary.id,
        name: summary.name,
        arch: template.arch ?? summary.arch,
        tags: [...new Set(versions.map((v) => v.tag))],
        latestTag: latestVersion(template)?.tag,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, summaries.length) }, worker));
  return rows.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}
