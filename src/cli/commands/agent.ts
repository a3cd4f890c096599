import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { Command } from "commander";
import { agentNameFor, type AgentFiles } from "../../bootstrap/index.ts";
import { preregisterAgent, removeAgents, type OpenedConnection } from "../../core/index.ts";
import { abortable } from "../cancel.ts";
import { ConfigError } from "../errors.ts";
import { connect, type Runtime } from "../runtime.ts";

/**
 * `anka-azdo agent register|remove`: agentRegistration `preregistered` without a Mac. `register`
 * registers an agent with a fresh key, exactly as the Start task does, and writes its three files
 * into a folder where a real agent package was unpacked, so that `./run.sh --once` there comes
 * online with them; `remove` deletes the agent from the pool (and, with --dir, the files).
 */
export interface AgentRegisterOptions {
  dir: string;
  name?: string;
  identifier: string;
  agentVersion?: string;
}

export interface AgentRemoveOptions {
  name: string;
  dir?: string;
}

const FILE_NAMES = {
  agent: ".agent",
  credentials: ".credentials",
  rsaParams: ".credentials_rsaparams",
} as const;
const BOM = "\uFEFF";

export function registerAgentCommands(program: Command, runtime: Runtime): void {
  const agent = program
    .command("agent")
    .description(
      "pre-register an agent into an unpacked agent package folder, and remove it (no PAT in the folder)",
    );
  agent
    .command("register")
    .description(
      "register an agent with its own key and write .agent, .credentials, .credentials_rsaparams into --dir",
    )
    .requiredOption("--dir <folder>", "folder where the agent package (run.sh, bin/) was unpacked")
    .requiredOption("--identifier <id>", "value of the agent's ANKA_AGENT_IDENTIFIER capability")
    .option("--name <agent>", "agent name (default: anka-<identifier>)")
    .option(
      "--agent-version <version>",
      "version of the package in --dir (default: asked from bin/Agent.Listener)",
    )
    .action(async (options: AgentRegisterOptions, command: Command) => {
      const result = await runAgentRegister(options, command, runtime);
      runtime.output.result(
        () => [
          `Registered agent ${result.agentName} in pool "${result.pool}" and wrote its files into ${result.dir}`,
          `Start it: cd ${result.dir} && ./run.sh --once`,
          `Remove it afterwards: anka-azdo agent remove --name ${result.agentName} --dir ${result.dir}`,
        ],
        result,
      );
    });
  agent
    .command("remove")
    .description("remove an agent from the pool; with --dir also delete its three files there")
    .requiredOption("--name <agent>", "the agent's name")
    .option("--dir <folder>", "the folder register wrote into")
    .action(async (options: AgentRemoveOptions, command: Command) => {
      const result = await runAgentRemove(options, command, runtime);
      runtime.output.result(
        () => [`Removed ${result.removed} agent record(s) named ${result.agentName}`],
        result,
      );
    });
}

export async function runAgentRegister(options: AgentRegisterOptions, command: Command, runtime: Runtime) {
  const dir = path.resolve(runtime.cwd, options.dir);
  if (!existsSync(path.join(dir, "run.sh")) || !existsSync(path.join(dir, "bin")))
    throw new ConfigError(
      `${dir} holds no unpacked agent package (run.sh and bin/): unpack one there first.`,
    );
  if (existsSync(path.join(dir, FILE_NAMES.agent)))
    throw new ConfigError(
      `${dir} already holds a configured agent (.agent): remove it (./config.sh remove, or anka-azdo agent remove --dir) or use a fresh folder.`,
    );
  const agentName = options.name?.trim() || agentNameFor(options.identifier);
  const agentVersion = options.agentVersion?.trim() || (await packageVersionIn(dir));
  const connection = azureDevOpsConnection(command, runtime);
  try {
    runtime.output.progress(`Registering agent ${agentName}`);
    const work = async () => {
      const pool = await connection.azdo.findPool(connection.agent.pool);
      const files = await preregisterAgent(
        connection.azdo,
        {
          pool,
          agentName,
          agentIdentifier: options.identifier,
          agentVersion,
          arch: process.arch === "x64" ? "amd64" : "arm64",
        },
        { registerSecret: runtime.scrubber.register },
      );
      try {
        await writeAgentFiles(dir, files);
      } catch (error) {
        await removeAgents({ agentName, pool }, connection.azdo);
        throw error;
      }
      return { agentName, pool: pool.name, dir, agentVersion };
    };
    return await abortable(work(), runtime.cancellation.signal);
  } finally {
    connection.close();
  }
}

export async function runAgentRemove(options: AgentRemoveOptions, command: Command, runtime: Runtime) {
  const connection = azureDevOpsConnection(command, runtime);
  try {
    const pool = await connection.azdo.findPool(connection.agent.pool);
    const removed = await removeAgents({ agentName: options.name, pool }, connection.azdo);
    if (options.dir) {
      const dir = path.resolve(runtime.cwd, options.dir);
      for (const name of Object.values(FILE_NAMES)) await rm(path.join(dir, name), { force: true });
    }
    return { agentName: options.name, removed };
  } finally {
    connection.close();
  }
}

/** As config.sh leaves them (agent-registration.md §1.1): BOM, the key 600, the others by umask. */
async function writeAgentFiles(dir: string, files: AgentFiles): Promise<void> {
  await writeFile(path.join(dir, FILE_NAMES.agent), BOM + files.agent);
  await writeFile(path.join(dir, FILE_NAMES.credentials), BOM + files.credentials);
  const keyFile = path.join(dir, FILE_NAMES.rsaParams);
  await writeFile(keyFile, BOM + files.rsaParams, { mode: 0o600 });
  await chmod(keyFile, 0o600);
}

/** The agent prints its own version for `--version` (Agent.Listener's command line). */
async function packageVersionIn(dir: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(path.join(dir, "bin", "Agent.Listener"), ["--version"], {
      cwd: dir,
      timeout: 60_000,
    });
    const version = /\d+\.\d+\.\d+/.exec(stdout)?.[0];
    if (version) return version;
  } catch {
    // reported below
  }
  throw new ConfigError(
    `Cannot tell the version of the agent in ${dir} (bin/Agent.Listener --version): give --agent-version.`,
  );
}

/** Only Azure DevOps is needed: no controller setting is asked for. */
function azureDevOpsConnection(command: Command, runtime: Runtime): OpenedConnection {
  return connect(command, runtime, { controller: false }).connection;
}
