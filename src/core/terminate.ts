import { isNotFound, START_TOKEN_METADATA_KEY, type Instance } from "../anka/index.ts";
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

  const targets = instanceId
    ? [instanceId, ...(await startSiblings(instanceId, ctx, warn))]
    : (await liveInstancesOf(identifier, ctx)).map((i) => i.id);
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

/**
 * Live instances that the start request of `instanceId` created too: when the controller's answer to
 * a start was lost and it was asked again, a slow controller may have made both (the client waits
 * for the first to show up, but not forever). They carry the same start token. Best effort: a
 * failed lookup only warns, the instance itself is terminated anyway.
 */
async function startSiblings(
  instanceId: string,
  ctx: Omit<FlowContext, "signal">,
  warn: (message: string) => void,
): Promise<string[]> {
  let instances: Instance[];
  try {
    instances = await ctx.anka.listInstances();
  } catch (error) {
    ctx.log.debug(
      `Could not look for other instances of the same start request: ${(error as Error).message}`,
    );
    return [];
  }
  const token = instances.find((i) => i.id === instanceId)?.metadata?.[START_TOKEN_METADATA_KEY];
  if (typeof token !== "string") return [];
  const siblings = instances.filter(
    (i) =>
      i.id !== instanceId &&
      i.metadata?.[START_TOKEN_METADATA_KEY] === token &&
      i.state !== "Terminating" &&
      i.state !== "Terminated",
  );
  for (const sibling of siblings) {
    warn(
      `Instance ${sibling.id} was created by the same start request as ${instanceId} (the controller's first answer was lost and it was asked again): terminating it too`,
    );
  }
  return siblings.map((i) => i.id);
}

/** Everything not already on its way out: Error and Stopped instances still hold a node slot. */
async function liveInstancesOf(externalId: string, ctx: Omit<FlowContext, "signal">): Promise<Instance[]> {
  const instances = await ctx.anka.findInstancesByExternalId(externalId);
  return instances.filter((i) => i.state !== "Terminating" && i.state !== "Terminated");
}
