import { isNotFound, isTerminationComplete, type AnkaClient } from "../anka/index.ts";
import type { AzureDevOpsClient, AgentPool } from "../azdo/index.ts";
import type { Logger } from "./ports.ts";

export interface RollbackTarget {
  instanceId: string;
  agentName: string;
  pool: AgentPool;
  /** Set when the start request may have made a second instance: instances with this start token go too. */
  startToken?: string;
}

/** Time kept for the last look for the agent, out of the rollback's budget. */
const LAST_LOOK_MS = 1_500;
const DOWN_POLL_MS = 200;

/**
 * Removes what a failed or cancelled start left: the instance and the agent record. Both requests
 * go out at once, and the whole rollback is bounded in time, because the agent kills a cancelled
 * task 7.5 s after SIGINT (reference azure-pipelines-agent.md §5). A VM that is still booting may
 * register its agent after the first look, so once the VM is down the agent is looked for again.
 */
export async function rollBack(
  target: RollbackTarget,
  anka: AnkaClient,
  azdo: AzureDevOpsClient,
  log: Logger,
  budgetMs: number,
): Promise<void> {
  log.info(`Rolling back: terminating instance ${target.instanceId} and removing agent ${target.agentName}`);
  const deadline = Date.now() + budgetMs - LAST_LOOK_MS;
  const instanceDown = (async () => {
    await terminateQuietly(target.instanceId, anka);
    await terminateDuplicates(target, anka, log);
    await untilDown(target.instanceId, anka, deadline);
  })();
  const work = Promise.allSettled([instanceDown, removeAgents(target, azdo)]).then(
    async ([instance, agent]) =>
      instance.status === "fulfilled"
        ? ([instance, ...(await Promise.allSettled([removeAgents(target, azdo)]))] as const)
        : ([instance, agent] as const),
  );
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

/** Until the instance's startup script can no longer run (see isTerminationComplete) or it is gone, or the deadline. */
async function untilDown(instanceId: string, anka: AnkaClient, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      if (isTerminationComplete(await anka.getInstance(instanceId))) return;
    } catch {
      return; // gone (not found), or the controller is failing: the last look goes ahead anyway
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(DOWN_POLL_MS, deadline - Date.now())));
  }
}

/**
 * Other live instances of the same start request (see AnkaClient.startInstancesWithReceipt): a lost
 * answer, a second request, and a slow controller that made both. Best effort: failures only warn.
 */
export async function terminateDuplicates(
  target: RollbackTarget,
  anka: AnkaClient,
  log: Logger,
): Promise<void> {
  if (!target.startToken) return;
  try {
    const others = (await anka.findInstancesByStartToken(target.startToken)).filter(
      (i) => i.id !== target.instanceId && i.state !== "Terminating" && i.state !== "Terminated",
    );
    for (const other of others) {
      log.warn(
        `Instance ${other.id} was created by the same start request as ${target.instanceId} (the controller's first answer was lost and it was asked again): terminating it`,
      );
      await terminateQuietly(other.id, anka);
    }
  } catch (error) {
    log.warn(`Could not look for a second instance of the same start request: ${(error as Error).message}`);
  }
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
