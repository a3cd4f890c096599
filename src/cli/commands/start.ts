import { readFileSync } from "node:fs";
import path from "node:path";
import { Option, type Command } from "commander";
import { startInstance, type StartResult } from "../../core/index.ts";
import { durationOption, integerOption } from "../duration.ts";
import { ConfigError } from "../errors.ts";
import { connect, type Runtime } from "../runtime.ts";

/** `anka-azdo start`: the Start task's inputs as flags (contract §3), the core's start flow. */
export interface StartOptions {
  /** Template name or UUID. */
  template: string;
  /** Template tag; latest when absent. */
  tag?: string;
  /** Unique key of this VM: external_id, agent name anka-<id>, capability ANKA_AGENT_IDENTIFIER. */
  agentIdentifier: string;
  /** Node group name or id. */
  nodeGroup?: string;
  /** 1..10000, lower is more urgent. */
  priority?: number;
  vcpu?: number;
  /** RAM in MB. */
  vram?: number;
  /** Replaces the connection's and the built-in startup script. */
  startupScriptFile?: string;
  /** Until the instance is Started, in ms (flag: a duration; a bare number is minutes). */
  startTimeout: number;
  /** From Started until the agent is online, in ms. */
  agentTimeout: number;
  /** commander's --no-wait-for-agent sets this false. */
  waitForAgent: boolean;
  keepInstanceOnFailure: boolean;
  /** How often to poll the controller and the pool, in ms. */
  pollInterval?: number;
}

/** The core's result, plus the pool and whether the agent was seen online (false with --no-wait-for-agent). */
export type StartOutput = StartResult & { pool: string; agentOnline: boolean };

export function registerStart(program: Command, runtime: Runtime): void {
  program
    .command("start")
    .description(
      "start a VM from a template with a single-use agent in the pool, and wait until it is online",
    )
    .requiredOption("--template <name-or-uuid>", "template name or UUID")
    .option("--tag <tag>", "template tag (default: latest)")
    .requiredOption(
      "--agent-identifier <id>",
      "unique key of this VM: the agent is anka-<id> with capability ANKA_AGENT_IDENTIFIER=<id>",
    )
    .option("--node-group <name-or-id>", "node group to run on")
    .option("--priority <n>", "1..10000, lower is more urgent", integerOption(1, 10_000))
    .option("--vcpu <n>", "CPU count (default: the template's)", integerOption(1, 256))
    .option("--vram <mb>", "RAM in MB (default: the template's)", integerOption(1, 1_048_576))
    .option("--startup-script-file <file>", "custom startup script replacing the built-in one")
    .addOption(
      new Option("--start-timeout <duration>", "until the instance is Started (bare number: minutes)")
        .argParser(durationOption("m"))
        .default(30 * 60_000, "30m"),
    )
    .addOption(
      new Option("--agent-timeout <duration>", "until the agent is online (bare number: minutes)")
        .argParser(durationOption("m"))
        .default(10 * 60_000, "10m"),
    )
    .option("--no-wait-for-agent", "return once the instance is Started and the agent registered")
    .option("--keep-instance-on-failure", "leave a failed VM and its agent for debugging", false)
    .addOption(
      new Option("--poll-interval <duration>", "how often to look at the instance and the pool")
        .argParser(durationOption())
        .default(5_000, "5s"),
    )
    .action(async (options: StartOptions, command: Command) => {
      const result = await runStart(options, command, runtime);
      runtime.output.result(
        () => [
          `Instance  ${result.instanceId}`,
          `Agent     ${result.agentName} ${result.agentOnline ? `(online in pool "${result.pool}")` : `(pool "${result.pool}"; not waited for)`}`,
          `Template  ${result.templateName} (${result.templateId}) tag ${result.tag ?? "latest"}`,
          `Node      ${result.nodeId || "-"}`,
          `IP        ${result.vmIp || "-"}`,
        ],
        result,
      );
    });
}

export async function runStart(
  options: StartOptions,
  command: Command,
  runtime: Runtime,
): Promise<StartOutput> {
  const startupScript = options.startupScriptFile
    ? readScript(options.startupScriptFile, runtime.cwd)
    : undefined;
  const { connection } = connect(command, runtime);
  try {
    const result = await startInstance(
      {
        template: options.template,
        tag: options.tag,
        agentIdentifier: options.agentIdentifier,
        nodeGroup: options.nodeGroup,
        priority: options.priority,
        vcpu: options.vcpu,
        vramMb: options.vram,
        startupScript,
        startTimeoutMs: options.startTimeout,
        agentTimeoutMs: options.agentTimeout,
        waitForAgent: options.waitForAgent,
        keepInstanceOnFailure: options.keepInstanceOnFailure,
      },
      {
        anka: connection.anka,
        azdo: connection.azdo,
        agent: connection.agent,
        log: runtime.output.log,
        registerSecret: runtime.scrubber.register,
        signal: runtime.cancellation.signal,
        pollIntervalMs: options.pollInterval,
      },
    );
    return { ...result, pool: connection.agent.pool, agentOnline: options.waitForAgent };
  } finally {
    connection.close();
  }
}

function readScript(file: string, cwd: string): string {
  const resolved = path.resolve(cwd, file);
  try {
    return readFileSync(resolved, "utf8");
  } catch (error) {
    throw new ConfigError(
      `Cannot read the startup script file ${resolved}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}
