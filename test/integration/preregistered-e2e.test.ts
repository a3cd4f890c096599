import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runTask, taskEnvironment, type TaskRun } from "../../emulator/task-host.ts";
import { secretForms } from "../helpers/secrets.ts";
import { POOL, startWorld, taskFolder, type World } from "../helpers/world.ts";

/**
 * agentRegistration `preregistered`, end to end from the vsix: the Start task registers the agent
 * with its own key, the VM (the sandbox, under dash and bash --posix) gets only the agent's three
 * files, and the stand-in agent, which reads them as strictly as the real one, comes online. Then
 * a scan of everything the VM and the controller saw finds no form of the PAT.
 */
const SECRET_FORMS = secretForms();
const PAT_FORMS = SECRET_FORMS.filter((form) => /^PAT\b/.test(form.label));

function assertNoSecrets(run: TaskRun): void {
  const visible = run.stdout
    .split("\n")
    .filter((line) => !line.startsWith("##vso[task.setsecret]"))
    .join("\n");
  for (const { label, value } of SECRET_FORMS)
    assert.ok(!visible.includes(value) && !run.stderr.includes(value), `${label} leaked`);
}

function patFormsIn(where: string, text: string): string[] {
  return PAT_FORMS.filter((form) => text.includes(form.value)).map((form) => `${form.label} in ${where}`);
}

function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(full));
    else if (entry.isFile()) found.push(full);
  }
  return found;
}

/** Environments and argument lists of the processes running in the VM (HOME is the VM's folder). */
function vmProcesses(vmDir: string): { pid: string; environ: string; cmdline: string }[] {
  const processes = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, "latin1");
      const inVm =
        environ.split("\0").includes(`HOME=${vmDir}`) || readlinkSync(`/proc/${pid}/cwd`).startsWith(vmDir);
      if (inVm) processes.push({ pid, environ, cmdline: readFileSync(`/proc/${pid}/cmdline`, "latin1") });
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return processes;
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

for (const shell of ["dash", "bash-posix"] as const) {
  describe(`preregistered: Start, a job by demand, Terminate (startup script under ${shell})`, () => {
    let world: World;
    let start: string;
    let terminate: string;
    before(async () => {
      world = await startWorld({ shell });
      start = await taskFolder("AnkaStartInstance");
      terminate = await taskFolder("AnkaTerminateInstance");
    });
    after(() => world.close());

    test("the agent comes online from its files alone; no form of the PAT reaches the VM or the controller", async () => {
      const id = `pre-${shell}-5151`;
      const endpoint = world.endpoint({ data: { agentRegistration: "preregistered" } });
      const env = (inputs: Record<string, string>) =>
        taskEnvironment({ inputs, endpoint, variables: world.variables("5151") });
      const started = await runTask(
        start,
        env({
          template: "sonoma-14",
          tag: "base",
          agentIdentifier: id,
          startTimeoutMinutes: "1",
          agentTimeoutMinutes: "0.5",
          waitForAgent: "true",
          keepInstanceOnFailure: "false",
        }),
      );
      assert.equal(started.result, "Succeeded", started.stdout);
      assertNoSecrets(started);
      assert.match(started.stdout, /Registered agent anka-pre-[\w-]+ in pool "Anka" with its own key/);

      const agent = world.azdo.agents(POOL).find((a) => a.name === `anka-${id}`);
      assert.equal(agent?.status, "online");
      assert.equal(agent?.userCapabilities.ANKA_AGENT_IDENTIFIER, id, "a user capability survives the scan");
      assert.equal(agent?.systemCapabilities.ANKA_AGENT_IDENTIFIER, id, "and the VM's .env reports it too");
      assert.equal(agent?.version, "4.264.2", "registered with the version of the package the VM runs");

      // The files, as config.sh writes them: BOM, the key readable by its owner only.
      const instanceId = started.outputs.AnkaInstanceId ?? "";
      const vmDir = world.sandbox.vmDir(instanceId) ?? "";
      const agentDir = path.join(vmDir, "azp-agent");
      for (const file of [".agent", ".credentials", ".credentials_rsaparams"])
        assert.ok(
          readFileSync(path.join(agentDir, file), "utf8").startsWith("\uFEFF"),
          `${file} has the BOM`,
        );
      assert.equal(statSync(path.join(agentDir, ".credentials_rsaparams")).mode & 0o777, 0o600);
      assert.equal(
        JSON.parse(readFileSync(path.join(agentDir, ".agent"), "utf8").slice(1)).agentId,
        agent?.id,
      );

      // Everything the VM and the controller saw, while the agent runs.
      const processes = vmProcesses(vmDir);
      assert.ok(processes.length > 0, "the agent's processes are visible");
      const startRequests = world.controller.requests.filter(
        (r) => r.method === "POST" && r.path === "/api/v1/vm",
      );
      assert.equal(startRequests.length, 1);
      const body = startRequests[0]?.body as { startup_script: string };
      const script = Buffer.from(body.startup_script, "base64").toString("utf8");
      assert.match(script, /ANKA_AZP_REGISTRATION='preregistered'/);
      assert.match(script, /ANKA_AZP_TOKEN=''/);
      const leaks = [
        ...patFormsIn("the start request", JSON.stringify(startRequests[0])),
        ...patFormsIn("the rendered script", script),
        ...filesUnder(vmDir).flatMap((file) => patFormsIn(file, readFileSync(file, "latin1"))),
        ...processes.flatMap((p) => [
          ...patFormsIn(`the environment of process ${p.pid}`, p.environ),
          ...patFormsIn(`the arguments of process ${p.pid}`, p.cmdline),
        ]),
      ];
      assert.deepEqual(leaks, []);

      const job = world.azdo.queueJob(POOL, [`ANKA_AGENT_IDENTIFIER -equals ${id}`], { durationMs: 100 });
      await until(() => world.azdo.job(job.requestId)?.result !== undefined);
      assert.equal(world.azdo.job(job.requestId)?.result, "succeeded");
      assert.equal(world.azdo.job(job.requestId)?.reservedAgent?.name, `anka-${id}`);

      const terminated = await runTask(
        terminate,
        env({ agentIdentifier: id, instanceId, removeAgent: "true" }),
      );
      assert.equal(terminated.result, "Succeeded", terminated.stdout);
      assertNoSecrets(terminated);
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
      assert.equal(existsSync(vmDir) ? vmProcesses(vmDir).length : 0, 0, "no process of the VM is left");
    });
  });
}
