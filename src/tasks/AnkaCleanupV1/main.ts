import * as path from "node:path";
import * as tl from "azure-pipelines-task-lib/task.js";
import { findLeftovers, formatAge, removeLeftovers } from "../../core/index.ts";
import { openServiceConnection } from "../common/connection.ts";
import { debugControllerVersion } from "../common/controller-version.ts";
import { boolInput, minutesInput, runCleanupTask, taskLogger } from "../common/run-task.ts";

/**
 * AnkaCleanup@1, for a scheduled pipeline: removes what cancelled or broken runs left, over the
 * same core as `anka-azdo cleanup`. Instances this extension created that are older than the age
 * and whose agent is offline or gone, and offline `anka-*` agents no live instance carries.
 */
void runCleanupTask(async () => {
  tl.setResourcePath(path.join(__dirname, "task.json"));
  const connection = openServiceConnection(tl.getInputRequired("ankaConnection"), taskLogger);
  try {
    await debugControllerVersion(connection.anka);
    const olderThanMs = minutesInput("olderThanMinutes", 120);
    const dryRun = boolInput("dryRun", false);
    const leftovers = await findLeftovers(
      { anka: connection.anka, azdo: connection.azdo, pool: connection.agent.pool },
      { olderThanMs },
    );
    for (const instance of leftovers.instances) {
      console.log(
        `Leftover instance ${instance.instanceId} (${instance.state}, ${formatAge(instance.ageMs)} old), agent ${instance.agentName ?? "?"} ${instance.agentStatus}`,
      );
    }
    for (const agent of leftovers.agents)
      console.log(`Leftover agent ${agent.agentName} (${agent.agentId}), ${agent.status}`);
    for (const kept of leftovers.kept) console.log(`Kept instance ${kept.instanceId}: ${kept.reason}`);
    if (dryRun) {
      tl.setResult(
        tl.TaskResult.Succeeded,
        tl.loc("DryRun", leftovers.instances.length, leftovers.agents.length),
      );
      return;
    }
    const removal = await removeLeftovers(leftovers, {
      anka: connection.anka,
      azdo: connection.azdo,
      log: taskLogger,
    });
    const summary = tl.loc("Removed", removal.removed, removal.skipped, removal.failed);
    tl.setResult(removal.failed > 0 ? tl.TaskResult.SucceededWithIssues : tl.TaskResult.Succeeded, summary);
  } finally {
    connection.close();
  }
});
