import type { Command } from "commander";
import {
  findLeftovers,
  formatAge,
  removeLeftovers,
  type Leftovers,
  type RemovalResult,
} from "../../core/index.ts";
import { abortable } from "../cancel.ts";
import { durationOption } from "../duration.ts";
import { ReportedFailure } from "../errors.ts";
import { table, type Colors } from "../output.ts";
import { connect, type Runtime } from "../runtime.ts";

/** `anka-azdo cleanup`: finds what failed runs left behind; removes it only with --yes. */
export interface CleanupOptions {
  /** Instances created longer ago than this (ms; the flag takes 2h, 30m, 1d) are candidates. */
  olderThan: number;
  /** Remove what was found; without it, only show it (dry run). */
  yes: boolean;
}

export interface CleanupOutput {
  dryRun: boolean;
  leftovers: Omit<Leftovers, "pool"> & { pool: string };
  removal?: RemovalResult;
}

export function registerCleanup(program: Command, runtime: Runtime): void {
  program
    .command("cleanup")
    .description(
      "find VMs this extension started that are older than --older-than and whose agent is offline or gone, " +
        "and offline anka-* agents no live VM carries; remove them with --yes",
    )
    .requiredOption("--older-than <duration>", "minimum instance age, e.g. 2h, 30m, 1d", durationOption())
    .option("--yes", "remove what was found (default: only show it)", false)
    .action(async (options: CleanupOptions, command: Command) => {
      const outcome = await runCleanup(options, command, runtime);
      runtime.output.result(() => renderCleanup(outcome, runtime.output.out), outcome);
      if (outcome.removal && outcome.removal.failed > 0)
        throw new ReportedFailure(`${outcome.removal.failed} item(s) could not be removed`);
    });
}

export async function runCleanup(
  options: CleanupOptions,
  command: Command,
  runtime: Runtime,
): Promise<CleanupOutput> {
  const { connection } = connect(command, runtime);
  try {
    runtime.output.progress(`Looking for leftovers older than ${formatAge(options.olderThan)}`);
    const found = await abortable(
      findLeftovers(
        { anka: connection.anka, azdo: connection.azdo, pool: connection.agent.pool },
        { olderThanMs: options.olderThan },
      ),
      runtime.cancellation.signal,
    );
    const outcome: CleanupOutput = { dryRun: !options.yes, leftovers: { ...found, pool: found.pool.name } };
    if (options.yes && found.instances.length + found.agents.length > 0) {
      runtime.output.progress(
        `Removing ${found.instances.length} instance(s) and ${found.agents.length} agent(s)`,
      );
      outcome.removal = await abortable(
        removeLeftovers(found, { anka: connection.anka, azdo: connection.azdo, log: runtime.output.log }),
        runtime.cancellation.signal,
      );
    }
    return outcome;
  } finally {
    connection.close();
  }
}

export function renderCleanup(outcome: CleanupOutput, colors: Colors): string[] {
  const { leftovers } = outcome;
  const lines: string[] = [];
  if (leftovers.instances.length > 0) {
    lines.push(`Instances older than ${formatAge(leftovers.olderThanMs)} whose agent is offline or gone:`);
    lines.push(
      ...table(
        ["INSTANCE", "STATE", "AGE", "AGENT", "AGENT STATUS"],
        leftovers.instances.map((i) => [
          i.instanceId,
          i.state,
          formatAge(i.ageMs),
          i.agentName ?? "",
          i.agentStatus,
        ]),
        colors,
      ).map((line) => `  ${line}`),
    );
  }
  if (leftovers.agents.length > 0) {
    lines.push(`Offline agents in pool "${leftovers.pool}" that no live instance carries:`);
    lines.push(
      ...table(
        ["AGENT", "ID", "STATUS"],
        leftovers.agents.map((a) => [a.agentName, String(a.agentId), a.status]),
        colors,
      ).map((line) => `  ${line}`),
    );
  }
  if (lines.length === 0) lines.push(`Nothing to clean up in pool "${leftovers.pool}".`);
  if (leftovers.kept.length > 0)
    lines.push(
      `Kept ${leftovers.kept.length} instance(s): ${leftovers.kept.map((k) => `${k.instanceId} (${k.reason})`).join("; ")}`,
    );
  if (outcome.dryRun && leftovers.instances.length + leftovers.agents.length > 0)
    lines.push(colors.bold("Dry run: nothing was removed. Run again with --yes to remove these."));
  if (outcome.removal)
    lines.push(
      `Removed ${outcome.removal.removed}, skipped ${outcome.removal.skipped}, failed ${outcome.removal.failed}.`,
    );
  return lines;
}
