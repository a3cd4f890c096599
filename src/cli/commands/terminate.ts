import type { Command } from "commander";
import { terminateInstance, type TerminateResult } from "../../core/index.ts";
import { abortable } from "../cancel.ts";
import { ConfigError } from "../errors.ts";
import { connect, type Runtime } from "../runtime.ts";

/** `anka-azdo terminate`: the Terminate task (contract §4). Idempotent: nothing left is a warning. */
export interface TerminateOptions {
  /** The key given to start: its live instances are terminated and agent anka-<id> removed. */
  agentIdentifier?: string;
  /** One instance by id instead of (or as well as) by agent identifier. */
  instanceId?: string;
  /** commander's --keep-agent sets this: leave the agent record in the pool. */
  keepAgent: boolean;
}

export function registerTerminate(program: Command, runtime: Runtime): void {
  program
    .command("terminate")
    .description(
      "terminate the VM(s) of an agent identifier (or one instance) and remove its agent from the pool",
    )
    .option("--agent-identifier <id>", "the identifier given to start")
    .option(
      "--instance-id <id>",
      "terminate this instance (default: every live instance of the agent identifier)",
    )
    .option("--keep-agent", "do not remove the agent anka-<id> from the pool", false)
    .action(async (options: TerminateOptions, command: Command) => {
      const result = await runTerminate(options, command, runtime);
      runtime.output.result(
        () => [
          result.terminated.length > 0
            ? `Terminated ${result.terminated.join(", ")}`
            : "No instance terminated",
          options.keepAgent ? "Agent kept" : `Removed ${result.agentsRemoved} agent record(s)`,
        ],
        result,
      );
    });
}

export async function runTerminate(
  options: TerminateOptions,
  command: Command,
  runtime: Runtime,
): Promise<TerminateResult> {
  if (!options.agentIdentifier?.trim() && !options.instanceId?.trim())
    throw new ConfigError("Give --agent-identifier (the value given to start) or --instance-id.");
  if (!options.agentIdentifier?.trim() && !options.keepAgent)
    runtime.output.warn(
      "Without --agent-identifier no agent is removed: give it to remove anka-<id> as well.",
    );
  const { connection } = connect(command, runtime);
  try {
    runtime.output.progress("Terminating");
    return await abortable(
      terminateInstance(
        {
          agentIdentifier: options.agentIdentifier ?? "",
          instanceId: options.instanceId,
          removeAgent: !options.keepAgent,
        },
        { anka: connection.anka, azdo: connection.azdo, agent: connection.agent, log: runtime.output.log },
      ),
      runtime.cancellation.signal,
    );
  } finally {
    connection.close();
  }
}
