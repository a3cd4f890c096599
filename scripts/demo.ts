/**
 * `npm start`: the whole main job on this machine, nothing to set up. It packs the extension,
 * starts an Anka controller emulator and an Azure DevOps emulator, and plays one pipeline with
 * the real built tasks: Start (a VM whose startup script really runs and registers a single-use
 * agent), a build job that the agent picks up through its ANKA_AGENT_IDENTIFIER demand, and
 * Terminate. It ends with a timeline and proof that nothing leaked.
 */
import { execFileSync } from "node:child_process";
import { rmSync, statSync } from "node:fs";
import { DEMO_TIMING } from "../emulator/controller/index.ts";
import { startTask, taskEnvironment, type TaskRun } from "../emulator/task-host.ts";
import { startWorld } from "../emulator/world.ts";
import { installedTaskFolder, packAndInstall } from "./package.ts";

const began = Date.now();
const clock = () => `${((Date.now() - began) / 1000).toFixed(1).padStart(5)}s`;
const say = (line: string) => console.log(`[${clock()}] ${line}`);
const timeline: { step: string; seconds: number; outcome: string }[] = [];

async function step<T>(name: string, run: () => Promise<T>, outcome: (result: T) => string): Promise<T> {
  const from = Date.now();
  const result = await run();
  const seconds = (Date.now() - from) / 1000;
  timeline.push({ step: name, seconds, outcome: outcome(result) });
  return result;
}

/** Shows the task's own log lines, as the pipeline log would, without the logging commands. */
async function runShown(folder: string, env: NodeJS.ProcessEnv): Promise<TaskRun> {
  const running = startTask(folder, env);
  let shown = 0;
  const show = () => {
    const lines = running.output().split("\n");
    for (; shown < lines.length - 1; shown++) {
      const line = lines[shown] ?? "";
      if (line.startsWith("##vso[task.issue")) say(`    ! ${line.replace(/^##vso\[[^\]]*\]/, "")}`);
      else if (!line.startsWith("##vso[")) say(`    | ${line}`);
    }
  };
  const timer = setInterval(show, 100);
  const run = await running.finished;
  clearInterval(timer);
  show();
  return run;
}

say("Anka Build Cloud for Azure Pipelines: a whole pipeline, on emulators, with the real tasks");
const extension = await step(
  "pack the extension",
  () => packAndInstall(),
  (packed) => `vsix ${Math.round(statSync(packed.vsix).size / 1024)} KiB`,
);
say(`Packed and installed ${extension.vsix.split("/").pop()}`);

const pat = `demo-pat-${Math.random().toString(36).slice(2)}`;
const world = await startWorld({
  pat,
  pool: "macOS",
  shell: hasDash() ? "dash" : "bash-posix",
  controller: { timing: DEMO_TIMING },
  azdo: { jobDurationMs: 2000 },
});
say(
  `Anka controller emulator: ${world.controller.url} (2 nodes, 2 slots each; template pulls take a few seconds)`,
);
say(`Azure DevOps emulator:    ${world.azdo.url} (pool "${world.pool}")`);

let exitCode = 0;
try {
  const buildId = "1234";
  const env = (inputs: Record<string, string>) =>
    taskEnvironment({
      inputs,
      endpoint: world.endpoint(),
      variables: { ...world.variables(buildId), "Anka.PollIntervalSeconds": "0.5" },
    });

  say(
    "Job 1/3 start_anka: AnkaStartInstance@1 (template sonoma-14, tag xcode-15, agentIdentifier $(Build.BuildId))",
  );
  const started = await step(
    "start_anka: AnkaStartInstance@1",
    () =>
      runShown(
        installedTaskFolder(extension.installed, "AnkaStartInstance"),
        env({ template: "sonoma-14", tag: "xcode-15" }),
      ),
    (run) => run.result ?? "no result",
  );
  if (started.result !== "Succeeded") throw new Error(`Start failed: ${started.resultMessage}`);
  say(
    `    outputs: ${Object.entries(started.outputs)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`,
  );

  say(`Job 2/3 build: pool ${world.pool}, demands ANKA_AGENT_IDENTIFIER -equals ${buildId}`);
  const job = await step(
    "build: the job runs on the Anka agent",
    async () => {
      const queued = world.azdo.queueJob(world.pool, [`ANKA_AGENT_IDENTIFIER -equals ${buildId}`], {
        name: "build",
      });
      for (;;) {
        const current = world.azdo.job(queued.requestId);
        if (current?.result) return current;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    (finished) => `${finished.result} on ${finished.reservedAgent?.name ?? "?"}`,
  );
  say(
    `    the job ran on agent ${job.reservedAgent?.name} and ${job.result}; the single-use agent then went offline`,
  );

  say("Job 3/3 stop_anka: AnkaTerminateInstance@1 (condition: always())");
  const stopped = await step(
    "stop_anka: AnkaTerminateInstance@1",
    () =>
      runShown(
        installedTaskFolder(extension.installed, "AnkaTerminateInstance"),
        env({ instanceId: started.outputs.AnkaInstanceId ?? "" }),
      ),
    (run) => run.result ?? "no result",
  );
  if (stopped.result !== "Succeeded") throw new Error(`Terminate failed: ${stopped.resultMessage}`);
} catch (error) {
  exitCode = 1;
  say(`FAILED: ${(error as Error).message}`);
} finally {
  const left = world.leftovers();
  await world.close();
  rmSync(extension.work, { recursive: true, force: true });
  console.log("\nTimeline");
  for (const entry of timeline)
    console.log(`  ${entry.seconds.toFixed(1).padStart(5)} s  ${entry.step.padEnd(40)} ${entry.outcome}`);
  console.log(`  ${((Date.now() - began) / 1000).toFixed(1).padStart(5)} s  total`);
  const leaked = left.instances > 0 || left.agents.length > 0;
  console.log(
    `\nSummary: ${exitCode === 0 ? "pipeline succeeded" : "pipeline FAILED"}; VMs left running: ${left.instances}; agents left in the pool: ${left.agents.length}${left.agents.length ? ` (${left.agents.join(", ")})` : ""}${leaked ? "" : " - nothing leaked."}`,
  );
  process.exitCode = exitCode || (leaked ? 1 : 0);
}

/** The startup script runs under dash when it is installed (stricter, like macOS `sh`), else `bash --posix`. */
function hasDash(): boolean {
  try {
    execFileSync("dash", ["-c", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
