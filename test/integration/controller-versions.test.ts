import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_CONTROLLER_VERSION,
  OLDER_CONTROLLER_VERSION,
  controllerBehaviour,
} from "../../emulator/controller/index.ts";
import { runTask, taskEnvironment } from "../../emulator/task-host.ts";
import type { DoctorReport } from "../../src/core/index.ts";
import type { CleanupOutput } from "../../src/cli/commands/cleanup.ts";
import type { StartOutput } from "../../src/cli/commands/start.ts";
import { createJsonLogger, parsePoolConfig, SecretSet, startPoolService } from "../../src/pool/index.ts";
import { secretForms } from "../helpers/secrets.ts";
import { spawnCli } from "../helpers/cli-process.ts";
import { PAT, POOL, startWorld, taskFolder, type World } from "../helpers/world.ts";

/**
 * Every flow against both controller profiles of the emulator (emulator/controller/versions.ts):
 * 1.50.1 (Scheduling again after Pulling, vminfo kept on Error, progress back to 0) and 1.44.0
 * (Pulling until Started, a message on Started instances, vminfo reset when the VM fails, progress
 * left at 1, EC2-style node ids). The tasks run from the built vsix, the CLI as a process, the
 * pool service in-process; the startup script runs for real in the sandbox shell.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECRETS = secretForms();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EC2_ID = /^i-[0-9a-f]{17}$/;

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function assertNoSecrets(text: string): void {
  const visible = text
    .split("\n")
    .filter((line) => !line.startsWith("##vso[task.setsecret]"))
    .join("\n");
  for (const { label, value } of SECRETS) assert.ok(!visible.includes(value), `${label} leaked`);
}

for (const version of [DEFAULT_CONTROLLER_VERSION, OLDER_CONTROLLER_VERSION]) {
  const behaviour = controllerBehaviour(version);
  const nodeIdForm = behaviour.ec2NodeIds ? EC2_ID : UUID;

  describe(`every flow against controller ${version}`, { concurrency: 1 }, () => {
    let world: World;
    let home: string;
    /** The controller's clock offset: instances created while it is negative look old to cleanup. */
    let clockOffsetMs = 0;
    before(async () => {
      world = await startWorld({
        controllerVersion: version,
        // A pull long enough for the 100 ms polls to see it.
        controller: {
          now: () => Date.now() + clockOffsetMs,
          timing: { pullMs: 1500, pullSteps: 3, terminatedRetentionMs: 3000 },
        },
        azdo: { offlineAfterMs: 10_000 },
      });
      home = mkdtempSync(path.join(tmpdir(), "anka-versions-"));
    });
    after(async () => {
      await world.close();
      rmSync(home, { recursive: true, force: true });
    });

    const taskEnv = (inputs: Record<string, string>, buildId: string, extra: Record<string, string> = {}) =>
      taskEnvironment({
        inputs,
        endpoint: world.endpoint(),
        variables: { ...world.variables(buildId), ...extra },
      });
    const startInputs = (identifier: string, extra: Record<string, string> = {}) => ({
      template: "sonoma-14",
      agentIdentifier: identifier,
      startTimeoutMinutes: "1",
      agentTimeoutMinutes: "0.5",
      ...extra,
    });
    const statusRequests = () => world.controller.requests.filter((r) => r.path === "/api/v1/status").length;

    test("tasks: Start with a pull, the job on its agent, Terminate; the version in the debug log only", async () => {
      const start = await taskFolder("AnkaStartInstance");
      const terminate = await taskFolder("AnkaTerminateInstance");
      // xcode-15 is on no node: the VM waits for a pull first.
      const started = await runTask(
        start,
        taskEnv(startInputs("v-1", { tag: "xcode-15" }), "101", { "System.Debug": "true" }),
      );
      assert.equal(started.result, "Succeeded", started.stdout);
      assertNoSecrets(started.stdout + started.stderr);
      assert.match(
        started.stdout,
        new RegExp(
          `##vso\\[task\\.debug\\]Anka controller ${world.controller.url}: version ${version}-[0-9a-f]{8}, status Running`,
        ),
      );
      assert.match(started.stdout, /is Pulling the template to the node/);
      if (behaviour.schedulingAfterPull)
        assert.match(started.stdout, /is Scheduling: booting the VM and running the startup script/);
      else
        assert.doesNotMatch(started.stdout, /booting the VM/, "before 1.50 it stays Pulling until Started");
      assert.match(started.outputs.AnkaNodeId ?? "", nodeIdForm);
      const view = world.controller.instances().find((i) => i.instance_id === started.outputs.AnkaInstanceId);
      assert.equal(
        view?.message,
        behaviour.startedMessage,
        "a message on a Started instance did not fail the start",
      );
      assert.equal(view?.progress, behaviour.progressResetAfterPull ? 0 : 1);

      const job = world.azdo.queueJob(POOL, ["ANKA_AGENT_IDENTIFIER -equals v-1"], { durationMs: 50 });
      await until("the job ran", () => world.azdo.job(job.requestId)?.result !== undefined);
      assert.equal(world.azdo.job(job.requestId)?.result, "succeeded");

      const statusBefore = statusRequests();
      const terminated = await runTask(
        terminate,
        taskEnvironment({
          inputs: { agentIdentifier: "v-1", instanceId: started.outputs.AnkaInstanceId ?? "" },
          endpoint: world.endpoint(),
          variables: world.variables("101"),
        }),
      );
      assert.equal(terminated.result, "Succeeded", terminated.stdout);
      assert.equal(statusRequests(), statusBefore, "without System.Debug no task reads /api/v1/status");
      assert.doesNotMatch(terminated.stdout, /Anka controller .*: version/);
      await until("nothing is left", () => world.leftovers().instances === 0);
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
    });

    test("tasks: a VM that fails fails Start with the controller's message; Terminate removes the errored VM", async () => {
      const start = await taskFolder("AnkaStartInstance");
      const terminate = await taskFolder("AnkaTerminateInstance");
      world.controller.addFault({ kind: "instance-error", externalId: "v-2", message: "VM failed to boot" });
      const run = await runTask(
        start,
        taskEnv(startInputs("v-2", { tag: "base", keepInstanceOnFailure: "true" }), "102"),
      );
      assert.equal(run.result, "Failed", run.stdout);
      assert.match(run.resultMessage, /went to Error: VM failed to boot/);
      const failed = world.controller.instances().find((i) => i.external_id === "v-2");
      assert.equal(failed?.instance_state, "Error", "kept for debugging");
      if (behaviour.errorKeepsVmInfo) assert.ok(failed.vminfo?.name, "1.49+: vminfo kept");
      else {
        assert.equal(failed.vminfo?.status, "deleted", "before 1.49: vminfo reset");
        assert.equal(failed.vminfo?.name, undefined);
        assert.equal(failed.vminfo?.port_forwarding, null);
      }
      const removed = await runTask(terminate, taskEnv({ agentIdentifier: "v-2" }, "102"));
      assert.equal(removed.result, "Succeeded", removed.stdout);
      assert.match(removed.stdout, new RegExp(`Terminated instance ${failed.instance_id}`));
      await until("the VM is gone", () => world.leftovers().instances === 0);
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
    });

    test("tasks: a start that never leaves the queue is rolled back: Terminating, then gone, never Terminated", async () => {
      const start = await taskFolder("AnkaStartInstance");
      world.controller.addFault({ kind: "stuck-scheduling", externalId: "v-3" });
      const run = await runTask(
        start,
        taskEnv(startInputs("v-3", { tag: "base", startTimeoutMinutes: "0.03" }), "103"),
      );
      assert.equal(run.result, "Failed", run.stdout);
      assert.match(run.resultMessage, /was not Started within .*last state: Scheduling/);
      assert.doesNotMatch(run.stdout, /Could not terminate/);
      // The rollback saw it Terminating without a VM and stopped waiting: it will never be Terminated.
      const instanceId = world.controller.requests.find(
        (r) =>
          r.method === "DELETE" &&
          run.stdout.includes(`Rolling back: terminating instance ${(r.body as { id: string }).id}`),
      );
      assert.ok(instanceId, run.stdout);
      const deletedAt = world.controller.requests.indexOf(instanceId);
      const pollsAfter = world.controller.requests
        .slice(deletedAt)
        .filter((r) => r.method === "GET" && r.query.id === (instanceId.body as { id: string }).id);
      assert.equal(pollsAfter.length, 1, "one look after the DELETE");
      const states = new Set<string>();
      await until("the instance vanished", () => {
        const instance = world.controller.instances().find((i) => i.external_id === "v-3");
        if (instance) states.add(instance.instance_state);
        return instance === undefined;
      });
      assert.ok(!states.has("Terminated"), `states seen: ${[...states].join(", ")}`);
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
    });

    function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
      return spawnCli(args, {
        cwd: home,
        env: {
          PATH: process.env.PATH,
          HOME: home,
          XDG_CONFIG_HOME: path.join(home, ".config"),
          ANKA_CONTROLLER_URL: world.controller.url,
          AZP_URL: world.azdo.url,
          AZP_TOKEN: PAT,
          AZP_POOL: POOL,
        },
      }).finished.then((outcome) => {
        assertNoSecrets(outcome.stdout + outcome.stderr);
        return outcome;
      });
    }

    const cliStart = (identifier: string) =>
      cli([
        "start",
        "--json",
        "--template",
        "sonoma-14",
        "--tag",
        "base",
        "--agent-identifier",
        identifier,
        "--poll-interval",
        "100ms",
      ]);

    test("CLI: doctor shows the version; start, list, terminate; an old leftover goes with cleanup", async () => {
      const [doctor, human] = await Promise.all([cli(["doctor", "--json"]), cli(["doctor"])]);
      const report = JSON.parse(doctor.stdout) as DoctorReport;
      assert.match(
        report.controllerVersion ?? "",
        new RegExp(`^${version.replace(/\./g, "\\.")}-[0-9a-f]{8}$`),
      );
      assert.match(human.stdout, new RegExp(`Controller ${world.controller.url} \\(version ${version}-`));

      const started = await cliStart("v-cli");
      assert.equal(started.code, 0, started.stderr);
      const result = JSON.parse(started.stdout) as StartOutput;
      assert.match(result.nodeId, nodeIdForm);
      const listed = await cli(["list"]);
      assert.match(listed.stdout, new RegExp(`${result.instanceId} +Started`));
      const terminated = await cli(["terminate", "--agent-identifier", "v-cli"]);
      assert.equal(terminated.code, 0, terminated.stderr);
      assert.match(terminated.stdout, new RegExp(`Terminated ${result.instanceId}`));

      clockOffsetMs = -3 * 3_600_000;
      const old = await cliStart("v-old");
      clockOffsetMs = 0;
      assert.equal(old.code, 0, old.stderr);
      const job = world.azdo.queueJob(POOL, ["ANKA_AGENT_IDENTIFIER -equals v-old"], { durationMs: 50 });
      await until(
        "the single-use agent took its job and went offline",
        () =>
          world.azdo.agents(POOL).some((a) => a.name === "anka-v-old" && a.status === "offline") &&
          world.azdo.job(job.requestId)?.result !== undefined,
      );
      const cleanup = await cli(["cleanup", "--json", "--older-than", "1h", "--yes"]);
      assert.equal(cleanup.code, 0, cleanup.stderr);
      const removed = JSON.parse(cleanup.stdout) as CleanupOutput;
      assert.deepEqual(
        removed.leftovers.instances.map((i) => i.instanceId),
        [(JSON.parse(old.stdout) as StartOutput).instanceId],
      );
      await until(
        "nothing is left",
        () => world.leftovers().instances === 0 && world.leftovers().agents.length === 0,
      );
    });

    test("pool service: a queued job gets a VM of its class; VM and agent go afterwards", async () => {
      const logs: string[] = [];
      const secrets = new SecretSet();
      const config = parsePoolConfig(
        [
          `controller: { url: "${world.controller.url}" }`,
          `azureDevOps: { url: "${world.azdo.url}", token: "\${AZP_TOKEN}", pool: ${POOL} }`,
          "pollSeconds: 0.1",
          "agentTimeoutMinutes: 0.25",
          "startTimeoutMinutes: 1",
          "http: { port: 0 }",
          "classes:",
          "  - { name: sonoma, template: sonoma-14, tag: xcode-15, max: 1 }",
        ].join("\n"),
        { AZP_TOKEN: PAT },
      );
      const stop = new AbortController();
      const handle = await startPoolService(config, {
        signal: stop.signal,
        log: createJsonLogger({ level: "debug", secrets, write: (line) => logs.push(line) }),
        secrets,
      });
      try {
        await until("the placeholder is registered", () =>
          world.azdo.agents(POOL).some((a) => a.name === "anka-placeholder-sonoma"),
        );
        const job = world.azdo.queueJob(POOL, ["anka-template -equals sonoma-14"], { durationMs: 100 });
        await until("the job ran", () => world.azdo.job(job.requestId)?.result !== undefined, 60_000);
        assert.equal(world.azdo.job(job.requestId)?.result, "succeeded");
        assert.match(world.azdo.job(job.requestId)?.reservedAgent?.name ?? "", /^anka-sonoma-/);
        await until("the VM and its agent are gone", () => {
          const left = world.leftovers();
          return left.instances === 0 && left.agents.length === 1;
        });
        assert.deepEqual(world.leftovers().agents, ["anka-placeholder-sonoma"]);
      } finally {
        stop.abort();
        await handle.done;
      }
      assertNoSecrets(logs.join("\n"));
    });
  });
}

describe("npm run emulator -- --controller-version", () => {
  const MAIN = path.join(ROOT, "emulator", "controller", "main.ts");
  const launch = (args: string[]) =>
    spawn(process.execPath, ["--import", "tsx", MAIN, "--port", "0", "--timing", "fast", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });

  test("serves the chosen release: status version, EC2 node ids", async () => {
    const child = launch(["--controller-version", OLDER_CONTROLLER_VERSION]);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const match = /listening on (\S+) \(timing: fast, controller 1\.44\.0\)/.exec(out);
          if (match?.[1]) resolve(match[1]);
        });
        child.on("close", (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const status = (await (await fetch(`${url}/api/v1/status`)).json()) as { body: { version: string } };
      assert.match(status.body.version, /^1\.44\.0-[0-9a-f]{8}$/);
      const nodes = (await (await fetch(`${url}/api/v1/node`)).json()) as { body: { node_id: string }[] };
      assert.ok(nodes.body.every((node) => EC2_ID.test(node.node_id)));
    } finally {
      child.kill("SIGTERM");
    }
  });

  test("a version that is not a release is refused with the expected form", async () => {
    const child = launch(["--controller-version", "latest"]);
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 2);
    assert.match(
      stderr,
      /controllerVersion: expected a controller release such as 1\.50\.1 or 1\.44\.0, got "latest"/,
    );
  });
});
