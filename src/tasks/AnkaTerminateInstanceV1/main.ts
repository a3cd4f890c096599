import * as path from "node:path";
import * as tl from "azure-pipelines-task-lib/task.js";
import { terminateInstance } from "../../core/index.ts";
import { openServiceConnection } from "../common/connection.ts";
import { debugControllerVersion } from "../common/controller-version.ts";
import { boolInput, runCleanupTask, taskLogger } from "../common/run-task.ts";

/** AnkaTerminateInstance@1: idempotent; meant for `condition: always()` (contract §4). */
void runCleanupTask(async () => {
  tl.setResourcePath(path.join(__dirname, "task.json"));
  const connection = openServiceConnection(tl.getInputRequired("ankaConnection"), taskLogger);
  try {
    await debugControllerVersion(connection.anka);
    const result = await terminateInstance(
      {
        agentIdentifier:
          tl.getInput("agentIdentifier", false)?.trim() || tl.getVariable("Build.BuildId") || "",
        instanceId: tl.getInput("instanceId", false),
        removeAgent: boolInput("removeAgent", true),
      },
      { anka: connection.anka, azdo: connection.azdo, agent: connection.agent, log: taskLogger },
    );
    const summary = tl.loc("Terminated", result.terminated.length, result.agentsRemoved);
    // Nothing left to remove is expected after a rolled-back start: the warnings say so, the step still succeeds.
    tl.setResult(tl.TaskResult.Succeeded, summary);
  } finally {
    connection.close();
  }
});
