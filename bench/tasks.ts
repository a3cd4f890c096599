/**
 * Task figures (issue 3): the vsix and bundle sizes, and each task's cold start, from the node
 * process start to its first HTTP request (the agent starts a fresh node for every task).
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { installedTaskFolder, packAndInstall } from "../scripts/package.ts";
import { taskEnvironment } from "../emulator/task-host.ts";
import { median, round } from "./stats.ts";

export interface TaskFigures {
  vsixKiB: number;
  bundlesKiB: Record<string, number>;
  coldStartMs: Record<string, { median: number; min: number; max: number; runs: number }>;
}

export async function taskFigures(runs: number): Promise<TaskFigures> {
  const { work, vsix, installed } = await packAndInstall();
  try {
    const tasks = readdirSync(path.join(installed, "tasks"));
    const bundlesKiB: Record<string, number> = {};
    const coldStartMs: TaskFigures["coldStartMs"] = {};
    for (const task of tasks) {
      const folder = installedTaskFolder(installed, task);
      // Agentless (server) tasks have no code to start: Azure DevOps runs their task.json.
      if (!existsSync(path.join(folder, "index.js"))) continue;
      bundlesKiB[task] = round(statSync(path.join(folder, "index.js")).size / 1024, 1);
      const times: number[] = [];
      for (let n = 0; n < runs; n++) times.push(await timeToFirstRequest(folder));
      coldStartMs[task] = {
        median: round(median(times), 1),
        min: round(Math.min(...times), 1),
        max: round(Math.max(...times), 1),
        runs,
      };
    }
    return { vsixKiB: round(statSync(vsix).size / 1024, 1), bundlesKiB, coldStartMs };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Spawns the task against a server that notes when the first request arrives, then answers 503 to everything. */
async function timeToFirstRequest(taskFolder: string): Promise<number> {
  let first: number | undefined;
  const server = http.createServer((req, res) => {
    first ??= performance.now();
    res.writeHead(503, { "content-type": "application/json" }).end('{"status":"FAIL","message":"bench"}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const env = taskEnvironment({
    inputs: { template: "t", agentIdentifier: "bench" },
    endpoint: {
      id: "bench-endpoint",
      url,
      scheme: "None",
      parameters: { azureDevOpsToken: "x" },
      data: { agentPool: "p", azureDevOpsUrl: url },
    },
    variables: { "Build.BuildId": "1" },
  });
  const began = performance.now();
  const child = spawn(process.execPath, ["index.js"], { cwd: taskFolder, env, stdio: "ignore" });
  while (first === undefined) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  child.kill("SIGKILL");
  server.close();
  if (first === undefined) throw new Error(`${taskFolder} exited before making a request`);
  return first - began;
}
