// Sandboxed startup-script runner for the controller emulator (a stand-in for `anka run <vm> sh`).
export { sandboxScriptRunner, MACOS_DEFAULT_PATH } from "./runner.ts";
export { assertShellInstalled, POSIX_SHELLS, SHELL_NAMES, shellLabel, type ShellName } from "./shells.ts";
export type {
  SandboxOptions,
  SandboxScriptRunner,
  ScriptRunContext,
  ScriptRunOutcome,
  ScriptRunner,
} from "./types.ts";
