import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Hosts a built task the way the Azure Pipelines agent's worker does (reference azure-pipelines-agent.md §6):
 * `node <target>` in the task folder, inputs and the service connection as environment variables,
 * and reads back the `##vso[...]` logging commands it prints.
 */
export interface EndpointFixture {
  id: string;
  url: string;
  scheme: string;
  parameters: Record<string, string>;
  data: Record<string, string>;
}

export interface VsoCommand {
  command: string;
  properties: Record<string, string>;
  message: string;
}

export interface TaskRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  commands: VsoCommand[];
  /** `task.complete` result, e.g. Succeeded or Failed. */
  result: string | undefined;
  resultMessage: string;
  /** Output variables set with isOutput=true. */
  outputs: Record<string, string>;
  /** Values the task asked to mask. */
  secrets: string[];
  warnings: string[];
  errors: string[];
}

const upper = (name: string) => name.replace(/[. ]/g, "_").toUpperCase();

export function taskEnvironment(options: {
  inputs: Record<string, string>;
  endpoint: EndpointFixture;
  variables?: Record<string, string>;
  inputConnection?: string;
}): NodeJS.ProcessEnv {
  const { endpoint } = options;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    [`INPUT_${upper(options.inputConnection ?? "ankaConnection")}`]: endpoint.id,
    [`ENDPOINT_URL_${endpoint.id}`]: endpoint.url,
    [`ENDPOINT_AUTH_${endpoint.id}`]: JSON.stringify({
      parameters: endpoint.parameters,
      scheme: endpoint.scheme,
    }),
    [`ENDPOINT_AUTH_SCHEME_${endpoint.id}`]: endpoint.scheme,
    [`ENDPOINT_DATA_${endpoint.id}`]: JSON.stringify(endpoint.data),
  };
  for (const [key, value] of Object.entries(endpoint.parameters))
    env[`ENDPOINT_AUTH_PARAMETER_${endpoint.id}_${upper(key)}`] = value;
  for (const [key, value] of Object.entries(endpoint.data))
    env[`ENDPOINT_DATA_${endpoint.id}_${upper(key)}`] = value;
  for (const [key, value] of Object.entries(options.inputs)) env[`INPUT_${upper(key)}`] = value;
  for (const [key, value] of Object.entries(options.variables ?? {})) env[upper(key)] = value;
  return env;
}

export function startTask(
  taskDir: string,
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; finished: Promise<TaskRun>; output: () => string } {
  // Each run gets its own Agent.TempDirectory, as each job does on a real agent: task-lib keeps its
  // vault key there (.taskkey), and two tasks sharing the folder would decrypt each other's inputs.
  const tempDirectory = mkdtempSync(path.join(tmpdir(), "anka-task-"));
  const child = spawn(process.execPath, ["index.js"], {
    cwd: taskDir,
    env: { AGENT_TEMPDIRECTORY: tempDirectory, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.on("close", () => rmSync(tempDirectory, { recursive: true, force: true }));
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const finished = (async () => {
    const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
    return summarise(code, signal, stdout, stderr);
  })();
  return { child, finished, output: () => stdout };
}

export async function runTask(taskDir: string, env: NodeJS.ProcessEnv): Promise<TaskRun> {
  return startTask(taskDir, env).finished;
}

export function parseVsoCommands(stdout: string): VsoCommand[] {
  const commands: VsoCommand[] = [];
  for (const line of stdout.split("\n")) {
    const match = /##vso\[([\w.]+)([^\]]*)\](.*)$/.exec(line.trim());
    if (!match) continue;
    const properties: Record<string, string> = {};
    for (const pair of (match[2] ?? "").trim().split(";")) {
      const at = pair.indexOf("=");
      if (at > 0) properties[pair.slice(0, at).trim()] = unescapeProperty(pair.slice(at + 1));
    }
    commands.push({ command: match[1] as string, properties, message: unescapeMessage(match[3] ?? "") });
  }
  return commands;
}

function summarise(
  code: number | null,
  signal: NodeJS.Signals | null,
  stdout: string,
  stderr: string,
): TaskRun {
  const commands = parseVsoCommands(stdout);
  const complete = commands.filter((c) => c.command === "task.complete").at(-1);
  const outputs: Record<string, string> = {};
  for (const c of commands) {
    if (c.command === "task.setvariable" && c.properties.isOutput === "true" && c.properties.variable)
      outputs[c.properties.variable] = c.message;
  }
  const issues = (type: string) =>
    commands.filter((c) => c.command === "task.issue" && c.properties.type === type).map((c) => c.message);
  return {
    code,
    signal,
    stdout,
    stderr,
    commands,
    result: complete?.properties.result,
    resultMessage: complete?.message ?? "",
    outputs,
    secrets: commands.filter((c) => c.command === "task.setsecret").map((c) => c.message),
    warnings: issues("warning"),
    errors: issues("error"),
  };
}

// Escaping rules of task-lib's logging commands (taskcommand.ts).
function unescapeMessage(text: string): string {
  return text
    .replace(/%0D/g, "\r")
    .replace(/%0A/g, "\n")
    .replace(/%AZP25/g, "%");
}
function unescapeProperty(text: string): string {
  return unescapeMessage(text).replace(/%3B/g, ";").replace(/%5D/g, "]");
}
