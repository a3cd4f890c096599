import * as path from "node:path";
import * as tl from "azure-pipelines-task-lib/task.js";
import { startInstance } from "../../core/index.ts";
import { maskSecret, openServiceConnection } from "../common/connection.ts";
import { debugControllerVersion } from "../common/controller-version.ts";
import {
  boolInput,
  intInput,
  minutesInput,
  pollIntervalMs,
  runTask,
  taskLogger,
} from "../common/run-task.ts";

/** AnkaStartInstance@1: inputs in, core start flow, output variables out (contract §3). */
void runTask(async (signal) => {
  tl.setResourcePath(path.join(__dirname, "task.json"));
  const connection = openServiceConnection(tl.getInputRequired("ankaConnection"), taskLogger);
  try {
    await debugControllerVersion(connection.anka);
    const agentIdentifier =
      tl.getInput("agentIdentifier", false)?.trim() || tl.getVariable("Build.BuildId") || "";
    const result = await startInstance(
      {
        template: tl.getInputRequired("template"),
        tag: tl.getInput("tag", false),
        agentIdentifier,
        nodeGroup: tl.getInput("nodeGroup", false),
        priority: intInput("priority", { min: 1, max: 10_000 }),
        vcpu: intInput("vcpu", { min: 1, max: 256 }),
        vramMb: intInput("vram", { min: 1, max: 1_048_576 }),
        startupScript: tl.getInput("startupScript", false),
        startTimeoutMs: minutesInput("startTimeoutMinutes", 30),
        agentTimeoutMs: minutesInput("agentTimeoutMinutes", 10),
        waitForAgent: boolInput("waitForAgent", true),
        keepInstanceOnFailure: boolInput("keepInstanceOnFailure", false),
        runUrl: runUrl(),
      },
      {
        anka: connection.anka,
        azdo: connection.azdo,
        agent: connection.agent,
        log: taskLogger,
        registerSecret: maskSecret,
        signal,
        pollIntervalMs: pollIntervalMs(),
      },
    );
    const outputs: Record<string, string> = {
      AnkaInstanceId: result.instanceId,
      AnkaAgentName: result.agentName,
      AnkaAgentIdentifier: result.agentIdentifier,
      AnkaNodeId: result.nodeId,
      AnkaVmIp: result.vmIp,
    };
    for (const [name, value] of Object.entries(outputs)) tl.setVariable(name, value, false, true);
    tl.setResult(tl.TaskResult.Succeeded, tl.loc("Started", result.instanceId, result.agentName));
  } finally {
    connection.close();
  }
});

function runUrl(): string | undefined {
  const collection = tl.getVariable("System.CollectionUri");
  const project = tl.getVariable("System.TeamProject");
  const buildId = tl.getVariable("Build.BuildId");
  if (!collection || !project || !buildId) return undefined;
  return `${collection.replace(/\/?$/, "/")}${encodeURIComponent(project)}/_build/results?buildId=${encodeURIComponent(buildId)}`;
}
