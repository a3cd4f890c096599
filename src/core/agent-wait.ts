import { classifyState, ControllerError, InstanceFailedError, type AnkaClient } from "../anka/index.ts";
import type { AzureDevOpsClient, Agent, AgentPool } from "../azdo/index.ts";
import { AzureDevOpsError } from "../azdo/index.ts";
import type { Clock } from "../clock.ts";
import type { Logger } from "./ports.ts";

export class AgentWaitTimeoutError extends Error {
  constructor(agentName: string, pool: string, timeoutMs: number, registered: boolean) {
    super(
      registered
        ? `Agent ${agentName} registered in pool "${pool}" but did not come online within ${Math.round(timeoutMs / 1000)} s. ` +
            "Its listener (run.sh --once) may have failed to start: look at the agent log in the VM (agentLogPath), or keep the instance with keepInstanceOnFailure to debug."
        : `Agent ${agentName} did not appear in pool "${pool}" within ${Math.round(timeoutMs / 1000)} s. ` +
            "Check that the VM can reach Azure DevOps (proxy, DNS) and that the startup script ran (keepInstanceOnFailure keeps the VM for debugging).",
    );
    this.name = "AgentWaitTimeoutError";
  }
}

export interface AgentWaitOptions {
  anka: AnkaClient;
  azdo: AzureDevOpsClient;
  pool: AgentPool;
  agentName: string;
  instanceId: string;
  timeoutMs: number;
  pollIntervalMs: number;
  clock: Clock;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * Polls the pool until the agent is online. Each round also looks at the instance: a VM that
 * fails or is terminated meanwhile ends the wait at once instead of after the agent timeout.
 */
export async function waitForAgentOnline(options: AgentWaitOptions): Promise<Agent> {
  const { clock } = options;
  const deadline = clock.now() + options.timeoutMs;
  let registered = false;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const agent = await options.azdo.findAgent(options.pool, options.agentName);
      if (agent?.status === "online") return agent;
      if (agent && !registered) {
        registered = true;
        options.log.info(
          `Agent ${options.agentName} is registered in pool "${options.pool.name}", waiting for it to come online`,
        );
      }
      const instance = await options.anka.getInstance(options.instanceId);
      if (classifyState(instance.state) === "failed") throw new InstanceFailedError(instance);
    } catch (error) {
      const transient =
        (error instanceof ControllerError || error instanceof AzureDevOpsError) && error.retryable;
      if (!transient) throw error;
      options.log.debug(`Transient error while waiting for the agent: ${(error as Error).message}`);
    }
    const remaining = deadline - clock.now();
    if (remaining <= 0)
      throw new AgentWaitTimeoutError(options.agentName, options.pool.name, options.timeoutMs, registered);
    await clock.sleep(Math.min(options.pollIntervalMs, remaining), options.signal);
  }
}
