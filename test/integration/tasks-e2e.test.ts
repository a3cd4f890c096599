import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runTask, startTask, taskEnvironment, type TaskRun } from "../../emulator/task-host.ts";
import { secretForms } from "../helpers/secrets.ts";
import { filesUnder, patFormsIn, vmProcesses } from "../helpers/vm-scan.ts";
import { PAT, POOL, READ_ONLY_PAT, startWorld, taskFolder, type World } from "../helpers/world.ts";

/**
 * The built tasks, extracted from the vsix, run as the agent runs them, against both emulators;
 * the controller emulator runs the rendered startup script for real in a sandbox shell, where the
 * stand-in agent registers and comes online.
 */
const SECRET_FORMS = secretForms();

function assertNoSecrets(run: TaskRun): void {
  // A secret may appear only inside the masking command that registers it.
  const visible = run.stdout
    .split("\n")
    .filter((line) => !line.startsWith("##vso[task.setsecret]"))
    .join("\n");
  for (const { label, value } of SECRET_FORMS) {
    assert.ok(!visible.includes(value) && !run.stderr.includes(value), `${label} leaked`);
  }
}

function startInputs(identifier: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    template: "sonoma-14",
    tag: "base",
    agentIdentifier: identifier,
    startTimeoutMinutes: "1",
    agentTimeoutMinutes: "0.5",
    waitForAgent: "true",
    keepInstanceOnFailure: "false",
    ...extra,
  };
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The build job, queued with the demand the README tells users to write, runs on that agent. */
async function assertJobRunsOn(world: World, id: string): Promise<void> {
  const job = world.azdo.queueJob(POOL, [`ANKA_AGENT_IDENTIFIER -equals ${id}`], { durationMs: 100 });
  await until(() => world.azdo.job(job.requestId)?.result !== undefined);
  assert.equal(world.azdo.job(job.requestId)?.result, "succeeded");
  assert.equal(world.azdo.job(job.requestId)?.reservedAgent?.name, `anka-${id}`);
}

for (const shell of ["dash", "bash-posix"] as const) {
  describe(`a pipeline: Start, a build job on the agent, Terminate (startup script under ${shell})`, () => {
    let world: World;
    let start: string;
    let terminate: string;
    before(async () => {
      world = await startWorld({ shell });
      start = await taskFolder("AnkaStartInstance");
      terminate = await taskFolder("AnkaTerminateInstance");
    });
    after(() => world.close());

    test("Start registers anka-<id> online with its capability and sets every output; the job runs; Terminate removes all", async () => {
      const id = `${shell}-4242`;
      const env = (inputs: Record<string, string>) =>
        taskEnvironment({ inputs, endpoint: world.endpoint(), variables: world.variables("4242") });
      const started = await runTask(start, env(startInputs(id)));
      assert.equal(started.result, "Succeeded", started.stdout);
      assertNoSecrets(started);
      const agent = world.azdo.agents(POOL).find((a) => a.name === `anka-${id}`);
      assert.equal(agent?.status, "online");
      assert.equal(agent?.systemCapabilities.ANKA_AGENT_IDENTIFIER, id);
      assert.equal(started.outputs.AnkaAgentName, `anka-${id}`);
      assert.equal(started.outputs.AnkaAgentIdentifier, id);
      assert.match(started.outputs.AnkaInstanceId ?? "", /^[0-9a-f-]{36}$/);
      assert.ok(started.outputs.AnkaNodeId);
      assert.match(started.outputs.AnkaVmIp ?? "", /^\d+\.\d+\.\d+\.\d+$/);
      assert.ok(started.secrets.includes(PAT), "the PAT is masked");

      await assertJobRunsOn(world, id);

      const terminated = await runTask(
        terminate,
        env({ agentIdentifier: id, instanceId: started.outputs.AnkaInstanceId ?? "", removeAgent: "true" }),
      );
      assert.equal(terminated.result, "Succeeded", terminated.stdout);
      assert.deepEqual(terminated.warnings, []);
      assertNoSecrets(terminated);
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });

      const again = await runTask(terminate, env({ agentIdentifier: id, removeAgent: "true" }));
      assert.equal(again.result, "Succeeded");
      assert.equal(again.warnings.length, 2, again.stdout);
      assert.match(again.warnings.join("\n"), /nothing to terminate/);
      assert.match(again.warnings.join("\n"), /nothing to remove/);
    });

    test("agentRegistration preregistered: online from its files alone, job by demand, Terminate removes all; no form of the PAT reaches the VM or the controller", async () => {
      const id = `pre-${shell}-5151`;
      const endpoint = world.endpoint({ data: { agentRegistration: "preregistered" } });
      const env = (inputs: Record<string, string>) =>
        taskEnvironment({ inputs, endpoint, variables: world.variables("5151") });
      const started = await runTask(start, env(startInputs(id)));
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
      // The key is masked: its private values show nowhere in the task's output but the masking commands.
      const key = JSON.parse(readFileSync(path.join(agentDir, ".credentials_rsaparams"), "utf8").slice(1));
      const visible = started.stdout
        .split("\n")
        .filter((line) => !line.startsWith("##vso[task.setsecret]"))
        .join("\n");
      for (const name of ["d", "p", "q", "dp", "dq", "inverseQ"]) {
        assert.ok(!visible.includes(key[name]) && !started.stderr.includes(key[name]), `key ${name} shown`);
        assert.ok(
          started.secrets.some((secret) => secret.includes(key[name])),
          `key ${name} masked`,
        );
      }
      assert.equal(
        JSON.parse(readFileSync(path.join(agentDir, ".agent"), "utf8").slice(1)).agentId,
        agent?.id,
      );

      // Everything the VM and the controller saw, while the agent runs.
      const processes = vmProcesses(vmDir);
      assert.ok(processes.length > 0, "the agent's processes are visible");
      const startRequests = world.controller.requests.filter(
        (r) =>
          r.method === "POST" &&
          r.path === "/api/v1/vm" &&
          (r.body as { external_id?: string }).external_id === id,
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

      await assertJobRunsOn(world, id);

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

describe("bad input and failures leave nothing behind", () => {
  let world: World;
  let start: string;
  before(async () => {
    world = await startWorld();
    start = await taskFolder("AnkaStartInstance");
  });
  after(() => world.close());
  const startRequests = () =>
    world.controller.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/vm").length;

  async function failingStart(inputs: Record<string, string>, endpoint = world.endpoint()): Promise<TaskRun> {
    const before = startRequests();
    const run = await runTask(start, taskEnvironment({ inputs, endpoint, variables: world.variables("77") }));
    assert.equal(run.result, "Failed", run.stdout);
    assertNoSecrets(run);
    await until(() => world.leftovers().instances === 0);
    assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
    (run as TaskRun & { startedVms: number }).startedVms = startRequests() - before;
    return run;
  }

  test("an unknown template fails listing the templates, and starts nothing", async () => {
    const run = await failingStart(startInputs("bad-template", { template: "sonoma-99" }));
    assert.match(
      run.resultMessage,
      /Template "sonoma-99" not found on http:\/\/127\.0\.0\.1:\d+\. Templates there: .*sonoma-14/,
    );
    assert.equal((run as TaskRun & { startedVms: number }).startedVms, 0);
  });

  test("an unknown tag fails listing the tags, and starts nothing", async () => {
    const run = await failingStart(startInputs("bad-tag", { tag: "xcode-99" }));
    assert.match(
      run.resultMessage,
      /Tag "xcode-99" not found on template "sonoma-14".*Tags there: base, xcode-15, xcode-15.4/,
    );
    assert.equal((run as TaskRun & { startedVms: number }).startedVms, 0);
  });

  test("an unknown pool fails naming the pools there, and starts nothing", async () => {
    const run = await failingStart(
      startInputs("bad-pool"),
      world.endpoint({ data: { agentPool: "NoSuchPool" } }),
    );
    assert.match(
      run.resultMessage,
      /Agent pool "NoSuchPool" is unknown in .*, or not visible to this PAT.*Pools this PAT can see: Default, Anka/,
    );
    assert.equal((run as TaskRun & { startedVms: number }).startedVms, 0);
  });

  test("an unknown agent registration mode fails naming the two modes, and starts nothing", async () => {
    const run = await failingStart(
      startInputs("bad-registration"),
      world.endpoint({ data: { agentRegistration: "outside" } }),
    );
    assert.match(run.resultMessage, /agent registration is "outside".*choose inVm or preregistered/);
    assert.equal((run as TaskRun & { startedVms: number }).startedVms, 0);
  });

  test("a rejected PAT fails before anything starts", async () => {
    const run = await failingStart(
      startInputs("bad-pat"),
      world.endpoint({ parameters: { azureDevOpsToken: "not-a-valid-pat" } }),
    );
    assert.match(run.resultMessage, /rejected the PAT \(HTTP 401\).*Agent Pools \(read & manage\)/);
    assert.equal((run as TaskRun & { startedVms: number }).startedVms, 0);
  });

  test("a PAT that cannot manage the pool: config.sh fails in the VM, the task fails at once with its stderr, the VM is rolled back", async () => {
    const began = Date.now();
    const run = await failingStart(
      startInputs("readonly-pat"),
      world.endpoint({ parameters: { azureDevOpsToken: READ_ONLY_PAT } }),
    );
    assert.ok(Date.now() - began < 15_000, "fails within seconds, not after the agent timeout");
    assert.match(run.resultMessage, /startup script of instance .* exited with code 6/);
    assert.match(run.resultMessage, /needs Manage permissions|Access denied/i);
    assert.match(run.stdout, /Rolling back/);
  });

  test("a failing custom startup script fails the task within seconds, showing its stderr", async () => {
    const began = Date.now();
    const run = await failingStart(
      startInputs("bad-script", {
        startupScript: 'echo "preparing"\necho "xcode-select: no developer tools" >&2\nexit 7',
      }),
    );
    assert.ok(Date.now() - began < 10_000);
    assert.match(
      run.resultMessage,
      /exited with code 7\. Its last output:\nxcode-select: no developer tools/,
    );
  });

  test("inputs that are not numbers are named", async () => {
    const run = await failingStart(startInputs("bad-priority", { priority: "urgent" }));
    assert.match(run.resultMessage, /Input priority must be a whole number from 1 to 10000; got "urgent"/);
  });
});

describe("cancellation: the agent sends SIGINT or SIGTERM; the rollback leaves nothing", () => {
  let world: World;
  let start: string;
  before(async () => {
    world = await startWorld();
    start = await taskFolder("AnkaStartInstance");
  });
  after(() => world.close());

  async function cancelDuring(
    identifier: string,
    signal: NodeJS.Signals,
    inputs: Record<string, string>,
    ready: (stdout: string) => boolean,
  ) {
    const running = startTask(
      start,
      taskEnvironment({
        inputs: startInputs(identifier, inputs),
        endpoint: world.endpoint(),
        variables: world.variables("88"),
      }),
    );
    await until(() => ready(running.output()), 15_000);
    const sentAt = Date.now();
    running.child.kill(signal);
    const run = await running.finished;
    const took = Date.now() - sentAt;
    assert.ok(took < 7_500, `exited ${took} ms after ${signal}; the agent kills at 7.5 s`);
    assert.equal(run.result, "Failed");
    assert.match(run.resultMessage, /cancelled/);
    assertNoSecrets(run);
    await until(() => world.leftovers().instances === 0);
    assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
  }

  test("SIGTERM while waiting for Started", async () => {
    world.controller.addFault({ kind: "stuck-scheduling", externalId: "cancel-scheduling" });
    await cancelDuring("cancel-scheduling", "SIGTERM", {}, (out) => /Requested instance/.test(out));
  });

  test("SIGINT while waiting for the agent (a startup script that never starts one)", async () => {
    await cancelDuring(
      "cancel-agent",
      "SIGINT",
      { startupScript: "echo no agent here", agentTimeoutMinutes: "5" },
      (out) => /is Started/.test(out),
    );
  });

  test("a second signal does not abandon the rollback", async () => {
    world.controller.addFault({ kind: "stuck-scheduling", externalId: "cancel-twice" });
    // Slow DELETE answers: the rollback is still running when the second signal arrives.
    world.controller.addFault({ method: "DELETE", path: "/api/v1/vm", kind: "delay", delayMs: 800 });
    const running = startTask(
      start,
      taskEnvironment({
        inputs: startInputs("cancel-twice"),
        endpoint: world.endpoint(),
        variables: world.variables("89"),
      }),
    );
    await until(() => /Requested instance/.test(running.output()), 15_000);
    running.child.kill("SIGINT");
    await until(() => /Rolling back/.test(running.output()));
    running.child.kill("SIGTERM");
    const run = await running.finished;
    assert.match(run.stdout, /Received SIGTERM again: still rolling back/);
    await until(() => world.leftovers().instances === 0);
    assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
  });
});
