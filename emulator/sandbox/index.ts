// Sandboxed startup-script runner for the controller emulator (a stand-in for `anka run <vm> sh`).
export { sandboxScriptRunner, MACOS_DEFAULT_PATH } from "./runner.ts";
export type {
  SandboxOptions,
  SandboxScriptRunner,
  ScriptRunContext,
  ScriptRunOutcome,
  ScriptRunner,
} from "./types.ts";
