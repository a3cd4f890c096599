// Runs a startup script for real, as the Anka node does with `anka run <vm> sh`
// (anka-controller-api.md §8): the script on the stdin of a POSIX shell (one of shells.ts, which is
// also the `sh` the script finds on its PATH, as on macOS), as the VM's logged-in user
// (`anka`), no profile, PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin, in a per-VM folder acting as
// its HOME. The shell leads its own process group: when the VM is killed (abort) or the script times
// out, the whole group goes, including background processes the script left running. Like `anka run`,
// the result waits until the script exited AND its stdout/stderr are closed, so a background process
// that keeps them open holds the run until the timeout (contract §5).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { killProcessGroup } from "./process-group.ts";
import { assertShellInstalled, POSIX_SHELLS } from "./shells.ts";
import type { SandboxOptions, SandboxScriptRunner, ScriptRunContext, ScriptRunOutcome } from "./types.ts";
import { createVmFolder, VM_USER, type VmFolder } from "./vm-folder.ts";

export const MACOS_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
const DEFAULT_KILL_GRACE_MS = 500;

interface VmState {
  folder: VmFolder;
  /** Process groups started for this VM, alive until the VM is killed or cleanup. */
  groups: Set<number>;
}

export function sandboxScriptRunner(options: SandboxOptions): SandboxScriptRunner {
  assertShellInstalled(options.shell);
  const parent = mkdtempSync(path.join(options.root ?? os.tmpdir(), "anka-sandbox-"));
  const graceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const vms = new Map<string, VmState>();
  const pending = new Map<string, Promise<VmState>>();

  const vmFor = (instanceId: string): Promise<VmState> => {
    let state = pending.get(instanceId);
    if (!state) {
      state = createVmFolder(parent, instanceId, POSIX_SHELLS[options.shell].command).then((folder) => {
        const vm = { folder, groups: new Set<number>() };
        vms.set(instanceId, vm);
        return vm;
      });
      pending.set(instanceId, state);
    }
    return state;
  };

  const killGroups = async (vm: VmState) => {
    const groups = [...vm.groups];
    vm.groups.clear();
    await Promise.all(groups.map((pgid) => killProcessGroup(pgid, graceMs)));
  };

  const runner = async (ctx: ScriptRunContext): Promise<ScriptRunOutcome> => {
    const vm = await vmFor(ctx.instanceId);
    if (ctx.signal.aborted) return { return_code: -1, did_timeout: false, stdout: "", stderr: "" };
    return runScript(ctx, vm, options, graceMs, () => killGroups(vm));
  };

  return Object.assign(runner, {
    async cleanup() {
      await Promise.all([...vms.values()].map(killGroups));
      rmSync(parent, { recursive: true, force: true });
    },
    vmDir(instanceId: string) {
      return vms.get(instanceId)?.folder.home;
    },
  });
}

function scriptEnvironment(folder: VmFolder, options: SandboxOptions): Record<string, string> {
  return {
    ...options.env,
    ...POSIX_SHELLS[options.shell].env,
    HOME: folder.home,
    USER: VM_USER,
    LOGNAME: VM_USER,
    SHELL: "/bin/bash",
    PATH: [folder.shims, ...(options.extraPath ?? []), MACOS_DEFAULT_PATH].join(":"),
  };
}

function runScript(
  ctx: ScriptRunContext,
  vm: VmState,
  options: SandboxOptions,
  graceMs: number,
  killVm: () => Promise<void>,
): Promise<ScriptRunOutcome> {
  const [command = "", ...args] = [
    ...POSIX_SHELLS[options.shell].command,
    ...POSIX_SHELLS[options.shell].stdinArgs,
  ];
  const child = spawn(command, args, {
    cwd: vm.folder.home,
    env: scriptEnvironment(vm.folder, options),
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const pgid = child.pid;
  if (pgid !== undefined) vm.groups.add(pgid);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  // The shell may exit before reading all of the script; that is not an error of the run.
  child.stdin.on("error", () => {});
  child.stdin.end(ctx.script);

  let timedOut = false;
  let aborted = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (pgid !== undefined) {
      vm.groups.delete(pgid);
      void killProcessGroup(pgid, graceMs);
    }
  }, ctx.timeoutSec * 1000);
  // The VM's death also ends background processes that outlive the script, so this stays armed.
  ctx.signal.addEventListener(
    "abort",
    () => {
      aborted = true;
      void killVm();
    },
    { once: true },
  );

  return new Promise((resolve, reject) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`Cannot run ${command}: ${error.message}`));
    });
    // "close": the shell exited and every holder of its stdout/stderr closed them.
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const killed = timedOut || aborted;
      resolve({
        return_code: killed ? -1 : (code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)),
        did_timeout: timedOut,
        stdout,
        stderr,
      });
    });
  });
}
