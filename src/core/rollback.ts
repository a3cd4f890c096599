import { isNotFound, type AnkaClient } from "../anka/index.ts";
import type { AzureDevOpsClient, AgentPool } from "../azdo/index.ts";
import type { Logger } from "./ports.ts";

export interface RollbackTarget {
  instanceId: string;
  agentName: string;
  pool: AgentPool;
}

/**
 * Removes what a failed or cancelled start left: the instance and the agent record. Both requests
 * go out at once, and the whole rollback is bounded in time, because the agent kills a cancelled
 * task 7.5 s after SIGINT (reference azure-pipelines-agent.md §5).
 */
export async function rollBack(
  target: RollbackTarget,
  anka: AnkaClient,
  azdo: AzureDevOpsClient,
  log: Logger,
  budgetMs: number,
): Promise<void> {
  log.info(`Rolling back: terminating instance ${target.instanceId} and removing agent ${target.agentName}`);
  const work = Promise.allSettled([terminateQuietly(target.instanceId, anka), removeAgents(target, azdo)]);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    work,
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), budgetMs);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    log.warn(
      `Rollback did not finish within ${budgetMs / 1000} s; instance ${target.instanceId} or agent ${target.agentName} may be left. ` +
        "Run AnkaTerminateInstance (condition: always()) or `anka-azdo cleanup` to remove them.",
    );
    return;
  }
  const [instance, agent] = outcome;
  if (instance.status === "rejected")
    log.warn(`Could not terminate instance ${target.instanceId}: ${(instance.reason as Error).message}`);
  if (agent.status === "rejected")
    log.warn(`Could not remove agent ${target.agentName}: ${(agent.reason as Error).message}`);
}

async function terminateQuietly(instanceId: string, anka: AnkaClient): Promise<void> {
  try {
    await anka.terminateInstance(instanceId);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** Deletes every agent with this name in the pool; returns how many there were. */
export async function removeAgents(
  target: { agentName: string; pool: AgentPool },
  azdo: AzureDevOpsClient,
): Promise<number> {
  const agents = await azdo.findAgents(target.pool, target.agentName);
  for (const agent of agents) await azdo.deleteAgent(target.pool, agent.id);
  return agents.length;
}
