// The sandboxed `anka run <vm> sh` stand-in, under every shell the startup script is tested with.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startAzureDevOpsEmulator } from "../../emulator/azdo/index.ts";
import {
  POSIX_SHELLS,
  sandboxScriptRunner,
  SHELL_NAMES,
  shellLabel,
  type ScriptRunContext,
  type ShellName,
} from "../../emulator/sandbox/index.ts";
import { agentNameFor, renderBuiltInStartupScript } from "../../src/bootstrap/index.ts";
import { PAT } from "../helpers/secrets.ts";

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

/** `$0` of a shell reading a script on stdin: its program's name (busybox's applet calls itself sh). */
const scriptName = (shell: ShellName) => (shell === "busybox-sh" ? "sh" : POSIX_SHELLS[shell].command[0]);

// The shells' groups run side by side: most of their time is spent waiting for a timeout.
describe("sandbox script runner", { concurrency: true }, () => {
  for (const shell of SHELL_NAMES) {
    describe(`sandbox script runner (${shell})`, { concurrency: 1, timeout: 20_000 }, () => {
      const runner = sandboxScriptRunner({ shell, env: { LANG: "C.UTF-8" } });
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
        assert.deepEqual(outcome, {
          return_code: 0,
          did_timeout: false,
          stdout: `stdin is a stream\n${scriptName(shell)} 0\n`,
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
            "C.UTF-8",
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
        const { stderr, ...outcome } = await runner(
          context("echo before\nsleep 5\necho after\n", { timeoutSec: 1 }),
        );
        assert.deepEqual(outcome, { return_code: -1, did_timeout: true, stdout: "before\n" });
        // Some shells (posh, mksh) report the killed sleep before they go themselves.
        assert.match(stderr, /^(Terminated *\n)?$/);
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

      // `exec`: yash would otherwise leave the background process a copy of the script's output.
      test("a background process with redirected output outlives the script until the VM is killed", async () => {
        const vm = new AbortController();
        const ctx = context(
          "exec nohup sleep 30 >/dev/null 2>&1 </dev/null &\necho $! > bg.pid\necho started\n",
          {
            signal: vm.signal,
          },
        );
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
        const ctx = context("exec nohup sleep 30 >/dev/null 2>&1 </dev/null &\necho $! > bg.pid\n");
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
});

describe(
  "the rendered built-in startup script in the sandbox, against the Azure DevOps emulator",
  { concurrency: true, timeout: 60_000 },
  () => {
    const POOL = "Anka ünï";
    const IDENTIFIER = `ünï 🍏 'q' "d" $HOME \\`;
    let emulator: Awaited<ReturnType<typeof startAzureDevOpsEmulator>>;
    let packageUrl: string;
    before(async () => {
      emulator = await startAzureDevOpsEmulator({
        pools: [{ name: POOL }],
        tokens: [{ token: PAT, manage: true }],
        longPollMs: 300,
        offlineAfterMs: 800,
      });
      const answer = await fetch(
        `${emulator.url}/_apis/distributedtask/packages/agent?platform=osx-arm64&$top=1`,
        {
          headers: { authorization: `Basic ${Buffer.from(`:${PAT}`).toString("base64")}` },
        },
      );
      const body = (await answer.json()) as { value: { downloadUrl: string }[] };
      packageUrl = body.value[0]?.downloadUrl ?? "";
    });
    after(() => emulator.close());

    for (const shell of SHELL_NAMES) {
      test(`registers its agent with UTF-8 values intact; it goes offline with the VM [${shellLabel(shell)}]`, async (t) => {
        // The stand-in agent refuses root like the real one; CI runs as root.
        const runner = sandboxScriptRunner({ shell, env: { AGENT_ALLOW_RUNASROOT: "1" } });
        t.after(() => runner.cleanup());
        const identifier = `${IDENTIFIER} ${shell}`;
        const script = renderBuiltInStartupScript({
          azureDevOpsUrl: emulator.url,
          pool: POOL,
          agentName: agentNameFor(identifier),
          agentIdentifier: identifier,
          pat: PAT,
          agentPackageUrl: packageUrl,
          agentPath: "~/azp agent ü",
          extraCapabilities: { "anka-template": "sonoma ✓" },
        });
        const vm = new AbortController();
        const outcome = await runner({
          instanceId: `i-${shell}`,
          script,
          vmIp: "",
          timeoutSec: 20,
          signal: vm.signal,
        });
        assert.equal(outcome.return_code, 0, outcome.stderr + outcome.stdout);
        assert.match(outcome.stdout, /anka-startup: agent .* configured and started/);
        const agent = () => emulator.agents(POOL).find((a) => a.name === agentNameFor(identifier));
        await waitUntil("agent online", () => agent()?.status === "online", 10_000);
        assert.equal(agent()?.systemCapabilities.ANKA_AGENT_IDENTIFIER, identifier);
        assert.equal(agent()?.systemCapabilities["anka-template"], "sonoma ✓");
        assert.equal(agent()?.systemCapabilities.ANKA_AZP_TOKEN, undefined);
        vm.abort();
        await waitUntil("agent offline", () => agent()?.status === "offline", 10_000);
      });
    }
  },
);
