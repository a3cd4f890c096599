import { isNotFound, type Instance } from "../anka/index.ts";
import { agentNameFor } from "../bootstrap/index.ts";
import type { FlowContext } from "./start.ts";
import { removeAgents } from "./rollback.ts";
import { InputError } from "./resolve.ts";

/** Contract §4. */
export interface TerminateRequest {
  agentIdentifier: string;
  /** When empty: every live instance whose external_id equals agentIdentifier. */
  instanceId?: string;
  removeAgent: boolean;
}

export interface TerminateResult {
  terminated: string[];
  agentsRemoved: number;
  /** Things that were already gone: worth a warning, never a failure. */
  warnings: string[];
}

/** Idempotent: nothing left to terminate or remove is a warning, not a failure. */
export async function terminateInstance(
  request: TerminateRequest,
  ctx: Omit<FlowContext, "signal">,
): Promise<TerminateResult> {
  const identifier = request.agentIdentifier.trim();
  const instanceId = request.instanceId?.trim();
  if (!identifier && !instanceId) {
    throw new InputError("Give agentIdentifier (the value given to AnkaStartInstance) or instanceId.");
  }
  const result: TerminateResult = { terminated: [], agentsRemoved: 0, warnings: [] };
  const warn = (message: string) => {
    result.warnings.push(message);
    ctx.log.warn(message);
  };

  const targets = instanceId ? [instanceId] : (await liveInstancesOf(identifier, ctx)).map((i) => i.id);
  if (targets.length === 0)
    warn(`No live instance with external_id "${identifier}" on ${ctx.anka.url}: nothing to terminate`);
  for (const id of targets) {
    try {
      await ctx.anka.terminateInstance(id);
      result.terminated.push(id);
      ctx.log.info(`Terminated instance ${id}`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      warn(`Instance ${id} does not exist on ${ctx.anka.url} (already terminated and purged)`);
    }
  }

  if (request.removeAgent && identifier) {
    const agentName = agentNameFor(identifier);
    const pool = await ctx.azdo.findPool(ctx.agent.pool);
    result.agentsRemoved = await removeAgents({ agentName, pool }, ctx.azdo);
    if (result.agentsRemoved === 0) warn(`No agent ${agentName} in pool "${pool.name}": nothing to remove`);
    else ctx.log.info(`Removed agent ${agentName} from pool "${pool.name}"`);
  }
  return result;
}

/** Everything not already on its way out: Error and Stopped instances still hold a node slot. */
async function liveInstancesOf(externalId: string, ctx: Omit<FlowContext, "signal">): Promise<Instance[]> {
  const instances = await ctx.anka.findInstancesByExternalId(externalId);
  return instances.filter((i) => i.state !== "Terminating" && i.state !== "Terminated");
}
