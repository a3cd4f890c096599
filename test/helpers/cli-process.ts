import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The CLI as npx runs it from a clone. */
export const CLI_BIN = path.join(fileURLToPath(new URL("../..", import.meta.url)), "bin", "anka-azdo.mjs");

export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `anka-azdo <args>` as its own process, its output collected until it closes. */
export function spawnCli(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): { child: ChildProcess; output: () => string; finished: Promise<CliOutcome> } {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    ...options,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const finished = new Promise<CliOutcome>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, output: () => stdout + stderr, finished };
}
