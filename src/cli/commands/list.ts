import type { Command } from "commander";
import { formatAge, listCreatedInstances, type InstanceRow } from "../../core/index.ts";
import { abortable } from "../cancel.ts";
import type { Colors } from "../output.ts";
import { table } from "../output.ts";
import { connect, type Runtime } from "../runtime.ts";

/** `anka-azdo list`: the instances this project created (metadata created_by), with their agents. */
export interface ListOptions {
  /** Include Terminating and Terminated instances. */
  all: boolean;
}

export function registerList(program: Command, runtime: Runtime): void {
  program
    .command("list")
    .description("list the VMs this extension started, with their agent's status in the pool")
    .option("--all", "include Terminating and Terminated instances", false)
    .action(async (options: ListOptions, command: Command) => {
      const rows = await runList(options, command, runtime);
      runtime.output.result(() => renderInstances(rows, runtime.output.out), { instances: rows });
    });
}

export async function runList(
  options: ListOptions,
  command: Command,
  runtime: Runtime,
): Promise<InstanceRow[]> {
  const { connection } = connect(command, runtime);
  try {
    runtime.output.progress("Listing instances and agents");
    return await abortable(
      listCreatedInstances(
        { anka: connection.anka, azdo: connection.azdo, pool: connection.agent.pool },
        { includeTerminated: options.all },
      ),
      runtime.cancellation.signal,
    );
  } finally {
    connection.close();
  }
}

export function renderInstances(rows: InstanceRow[], colors: Colors): string[] {
  if (rows.length === 0) return ["No instances started by anka-azure-pipelines."];
  const status = (row: InstanceRow) => {
    const text = row.agentStatus === "other-pool" ? `(pool ${row.pool})` : row.agentStatus;
    if (row.agentStatus === "online") return colors.green(text);
    if (row.agentStatus === "offline" || row.agentStatus === "missing") return colors.yellow(text);
    return text;
  };
  return table(
    ["INSTANCE", "STATE", "AGE", "TEMPLATE", "TAG", "AGENT", "AGENT STATUS", "NODE", "IP"],
    rows.map((row) => [
      row.instanceId,
      row.state,
      row.ageMs === undefined ? "?" : formatAge(row.ageMs),
      row.templateName ?? row.templateId,
      row.tag ?? "",
      row.agentName ?? "",
      status(row),
      row.nodeId ?? "",
      row.vmIp ?? "",
    ]),
    colors,
  );
}
