// The sandboxed `anka run <vm> sh` stand-in, under both shells the startup script is tested with.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startAzureDevOpsEmulator } from "../../emulator/azdo/index.ts";
import { sandboxScriptRunner, type ScriptRunContext } from "../../emulator/sandbox/index.ts";

const STANDARD_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/** Running and not a zombie waiting to be reaped (a killed orphan lingers as one until init reaps it). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !["Z", "X"].includes(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "");
  } catch {
    if (existsSync("/proc")) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function waitUntil(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(25);
  }
}

for (const shell of ["dash", "bash-posix"] as const) {
  describe(`sandbox script runner (${shell})`, { timeout: 20_000 }, () => {
    const runner = sandboxScriptRunner({ shell, env: { LANG: "en_US.UTF-8" } });
    after(() => runner.cleanup());
    let counter = 0;
    const context = (script: string, extra: Partial<ScriptRunContext> = {}): ScriptRunContext => ({
      instanceId: `vm-${shell}-${++counter}`,
      script,
      vmIp: "192.168.64.10",
      timeoutSec: 10,
      signal: new AbortController().signal,
      ...extra,
    });

    test("feeds the script to the shell on stdin, with no script file argument", async () => {
      const outcome = await runner(
        context('{ [ -p /dev/stdin ] || [ -S /dev/stdin ]; } && echo "stdin is a stream"\necho "$0 $#"\n'),
      );
      const name = shell === "dash" ? "dash" : "bash";
      assert.deepEqual(outcome, {
        return_code: 0,
        did_timeout: false,
        stdout: `stdin is a stream\n${name} 0\n`,
        stderr: "",
      });
    });

    if (shell === "bash-posix") {
      // bash reads a script on stdin line by line, so a `read` in it takes the script's next line, as
      // macOS `sh` does under `anka run`. (dash reads ahead in blocks; its `read` would see end of input.)
      test("a `read` in the script consumes the script's next line", async () => {
        const outcome = await runner(context('read line\nhello from stdin\necho "got:$line"\n'));
        assert.deepEqual(outcome, {
          return_code: 0,
          did_timeout: false,
          stdout: "got:hello from stdin\n",
          stderr: "",
        });
      });
    }

    test("runs as the VM user in its HOME with the standard macOS PATH and no profile", async () => {
      const ctx = context("");
      await runner({ ...ctx, script: "true" });
      const home = runner.vmDir(ctx.instanceId);
      assert.ok(home);
      await writeFile(path.join(home, ".profile"), "echo PROFILE-LOADED\n");
      await writeFile(path.join(home, ".bashrc"), "echo BASHRC-LOADED\n");
      const outcome = await runner({
        ...ctx,
        script:
          'printf "%s\\n" "$HOME" "$USER" "$LOGNAME" "$SHELL" "$PATH" "$(pwd)" "$LANG" "${ENV-unset}"\n',
      });
      assert.equal(outcome.return_code, 0);
      assert.equal(
        outcome.stdout,
        [
          home,
          "anka",
          "anka",
          "/bin/bash",
          `${path.join(path.dirname(home), "shims")}:${STANDARD_PATH}`,
          home,
          "en_US.UTF-8",
          "unset",
          "",
        ].join("\n"),
      );
      assert.equal(outcome.stderr, "");
    });

    test("returns the exit code and both outputs", async () => {
      const outcome = await runner(context("echo out\necho err >&2\nexit 7\n"));
      assert.deepEqual(outcome, { return_code: 7, did_timeout: false, stdout: "out\n", stderr: "err\n" });
    });

    test("times out: kills the script, return_code -1, did_timeout, partial output kept", async () => {
      const started = Date.now();
      const outcome = await runner(context("echo before\nsleep 5\necho after\n", { timeoutSec: 1 }));
      assert.deepEqual(outcome, { return_code: -1, did_timeout: true, stdout: "before\n", stderr: "" });
      assert.ok(Date.now() - started < 3000);
    });

    test("sudo shim: -u/-i/-n accepted, environment reset like macOS sudo, VAR=value and -E pass values", async () => {
      const outcome = await runner(
        context(
          [
            "export SECRET=from-script",
            `sudo -u anka -i -n sh -c 'echo "login:$USER:$(pwd):\${SECRET-unset}:$HOME"'`,
            `sudo -n -u anka sh -c 'echo "plain:\${SECRET-unset}:$SUDO_USER"'`,
            `sudo -n -u anka SECRET=passed sh -c 'echo "assigned:$SECRET"'`,
            `sudo -E -H -u anka sh -c 'echo "preserved:$SECRET"'`,
            "sudo -niu anka sh -c 'exit 5'; echo \"status:$?\"",
            'sudo -Z true 2>/dev/null; echo "bad-option:$?"',
          ].join("\n"),
        ),
      );
      const home = runner.vmDir(`vm-${shell}-${counter}`);
      assert.equal(outcome.stderr, "");
      assert.equal(
        outcome.stdout,
        [
          `login:anka:${home}:unset:${home}`,
          "plain:unset:anka",
          "assigned:passed",
          "preserved:from-script",
          "status:5",
          "bad-option:1",
          "",
        ].join("\n"),
      );
    });

    test("a background process with redirected output outlives the script until the VM is killed", async () => {
      const vm = new AbortController();
      const ctx = context("nohup sleep 30 >/dev/null 2>&1 </dev/null &\necho $! > bg.pid\necho started\n", {
        signal: vm.signal,
      });
      const started = Date.now();
      const outcome = await runner(ctx);
      assert.deepEqual(outcome, { return_code: 0, did_timeout: false, stdout: "started\n", stderr: "" });
      assert.ok(Date.now() - started < 2000);
      const pid = Number(readFileSync(path.join(runner.vmDir(ctx.instanceId) ?? "", "bg.pid"), "utf8"));
      await sleep(200);
      assert.equal(running(pid), true);
      vm.abort();
      await waitUntil("background process killed", () => !running(pid));
    });

    test("a background process holding stdout keeps the run open until the timeout (contract §5)", async () => {
      const started = Date.now();
      const ctx = context("sleep 30 &\necho $! > bg.pid\necho started\nexit 0\n", { timeoutSec: 1 });
      const outcome = await runner(ctx);
      assert.deepEqual(outcome, { return_code: -1, did_timeout: true, stdout: "started\n", stderr: "" });
      assert.ok(Date.now() - started >= 900, "held until the timeout");
      const pid = Number(readFileSync(path.join(runner.vmDir(ctx.instanceId) ?? "", "bg.pid"), "utf8"));
      await waitUntil("holder killed", () => !running(pid));
    });

    test("cleanup kills what is still running and deletes the VM folders", async () => {
      const own = sandboxScriptRunner({ shell });
      const ctx = context("nohup sleep 30 >/dev/null 2>&1 </dev/null &\necho $! > bg.pid\n");
      assert.equal((await own(ctx)).return_code, 0);
      const home = own.vmDir(ctx.instanceId) ?? "";
      const pid = Number(readFileSync(path.join(home, "bg.pid"), "utf8"));
      assert.equal(running(pid), true);
      await own.cleanup();
      await waitUntil("background process killed", () => !running(pid));
      assert.equal(existsSync(home), false);
    });
  });
}

describe(
  "sandbox running a startup-script-like flow against the Azure DevOps emulator",
  { timeout: 20_000 },
  () => {
    test("download, configure, background run.sh --once; killing the VM takes the agent offline", async (t) => {
      const emulator = await startAzureDevOpsEmulator({
        tokens: [{ token: "sandbox-pat", manage: true }],
        longPollMs: 300,
        offlineAfterMs: 800,
      });
      const runner = sandboxScriptRunner({ shell: "bash-posix" });
      t.after(async () => {
        await runner.cleanup();
        await emulator.close();
      });
      const answer = await fetch(
        `${emulator.url}/_apis/distributedtask/packages/agent?platform=osx-arm64&$top=1`,
        {
          headers: { authorization: `Basic ${Buffer.from(":sandbox-pat").toString("base64")}` },
        },
      );
      const downloadUrl = ((await answer.json()) as { value: { downloadUrl: string }[] }).value[0]
        ?.downloadUrl;
      const script = [
        "set -e",
        // The sandbox runs as root here; the real VM user is not (azure-pipelines-agent.md §2 step 0).
        "export AGENT_ALLOW_RUNASROOT=1",
        'mkdir -p "$HOME/azp-agent" && cd "$HOME/azp-agent"',
        `curl -fsS -o agent.tar.gz '${downloadUrl}'`,
        "tar -xzf agent.tar.gz && rm agent.tar.gz",
        "export ANKA_AGENT_IDENTIFIER=sandbox-1 VSO_AGENT_IGNORE=VSTS_AGENT_INPUT_TOKEN",
        `VSTS_AGENT_INPUT_TOKEN=sandbox-pat ./config.sh --unattended --url '${emulator.url}' --auth pat --pool Anka --agent anka-sandbox-1 --replace --acceptTeeEula --work _work`,
        "nohup ./run.sh --once > run.log 2>&1 < /dev/null &",
        "echo configured",
      ].join("\n");
      const vm = new AbortController();
      const outcome = await runner({
        instanceId: "i-agent",
        script,
        vmIp: "",
        timeoutSec: 15,
        signal: vm.signal,
      });
      assert.equal(outcome.return_code, 0, outcome.stderr + outcome.stdout);
      assert.match(outcome.stdout, /Successfully added the agent\n[\s\S]*configured\n$/);
      await waitUntil("agent online", () => emulator.agents("Anka")[0]?.status === "online", 5000);
      assert.equal(emulator.agents("Anka")[0]?.systemCapabilities.ANKA_AGENT_IDENTIFIER, "sandbox-1");
      assert.equal(emulator.agents("Anka")[0]?.systemCapabilities.HOME, runner.vmDir("i-agent"));
      vm.abort();
      await waitUntil("agent offline", () => emulator.agents("Anka")[0]?.status === "offline", 5000);
      assert.equal(
        emulator.agents("Anka")[0]?.name,
        "anka-sandbox-1",
        "the record stays until someone deletes it",
      );
    });
  },
);
