// The contract between the controller emulator and a script runner: what `anka run <vm> sh` gets and
// what it hands back (anka-controller-api.md §8; startup-scripts-and-job-requests.md A2-A3).
import type { ShellName } from "./shells.ts";

export interface ScriptRunContext {
  instanceId: string;
  /** The decoded startup script, fed to the shell on stdin. */
  script: string;
  externalId?: string;
  vmIp: string;
  timeoutSec: number;
  /** Fires when the VM is killed (instance terminated, emulator closed) or the controller times out. */
  signal: AbortSignal;
}

export interface ScriptRunOutcome {
  return_code: number;
  did_timeout: boolean;
  stdout: string;
  stderr: string;
}

export type ScriptRunner = (ctx: ScriptRunContext) => Promise<ScriptRunOutcome>;

export interface SandboxOptions {
  /** The shell that runs the script, e.g. `dash -s` or `bash --posix -s` (macOS `sh` is bash in POSIX mode). */
  shell: ShellName;
  /** Parent folder of the per-VM folders; default os.tmpdir(). */
  root?: string;
  /** Folders put on PATH after the shim folder, before the standard macOS PATH. */
  extraPath?: string[];
  /** Extra environment variables of the script (HOME, USER, LOGNAME, SHELL and PATH cannot be replaced). */
  env?: Record<string, string>;
  /** On abort or timeout: time between SIGTERM and SIGKILL to the script's process group. Default 500. */
  killGraceMs?: number;
}

export interface SandboxScriptRunner extends ScriptRunner {
  /** Kills every process the sandboxes still run and deletes their folders. */
  cleanup(): Promise<void>;
  /** The folder acting as the VM user's HOME, once the instance ran a script. */
  vmDir(instanceId: string): string | undefined;
}
