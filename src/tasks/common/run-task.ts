import * as tl from "azure-pipelines-task-lib/task.js";
import type { Logger } from "../../core/index.ts";

/** Build-log lines through task-lib: warnings become pipeline issues, debug lines show with system.debug. */
export const taskLogger: Logger = {
  info: (message) => console.log(message),
  warn: (message) => tl.warning(message),
  debug: (message) => tl.debug(message),
};

/**
 * Runs a task body with cancellation wired the way the agent cancels: SIGINT, then SIGTERM 7.5 s
 * later, then SIGKILL (reference azure-pipelines-agent.md §5). The first signal aborts the body,
 * which rolls back at once; later signals are acknowledged but do not interrupt the rollback.
 * A body that is a cleanup itself (`cleanup: true`, Terminate) is not aborted: it finishes.
 */
export async function runTask(
  body: (signal: AbortSignal) => Promise<void>,
  options: { cleanup?: boolean } = {},
): Promise<void> {
  const cancel = new AbortController();
  const what = options.cleanup ? "finishing the cleanup first" : "rolling back";
  const onSignal = (signal: NodeJS.Signals) => {
    if (cancel.signal.aborted) {
      console.log(`Received ${signal} again: still ${what}, please wait`);
      return;
    }
    console.log(
      `Received ${signal}: ${options.cleanup ? `${what}, so that nothing is left` : "cancelling and rolling back"}`,
    );
    cancel.abort(new Error(`cancelled by ${signal}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await body(cancel.signal);
  } catch (error) {
    tl.setResult(tl.TaskResult.Failed, (error as Error).message ?? String(error));
    process.exitCode = 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** {@link runTask} for a task that is a cleanup itself (Terminate): cancelled, it finishes rather than leave a VM. */
export function runCleanupTask(body: () => Promise<void>): Promise<void> {
  return runTask(body, { cleanup: true });
}

/** Whole-number input with a message that names the input; undefined when empty. */
export function intInput(name: string, range?: { min: number; max: number }): number | undefined {
  const text = tl.getInput(name, false)?.trim();
  if (!text) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || (range && (value < range.min || value > range.max))) {
    throw new Error(
      `Input ${name} must be a whole number${range ? ` from ${range.min} to ${range.max}` : ""}; got "${text}"`,
    );
  }
  return value;
}

/** Boolean input; `fallback` when empty (task.json defaults normally fill it in). */
export function boolInput(name: string, fallback: boolean): boolean {
  const text = tl.getInput(name, false)?.trim();
  return text ? tl.getBoolInput(name, false) : fallback;
}

/** Minutes input as milliseconds (fractions allowed, so tests can use seconds). */
export function minutesInput(name: string, fallback: number): number {
  const text = tl.getInput(name, false)?.trim();
  if (!text) return fallback * 60_000;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`Input ${name} must be a positive number of minutes; got "${text}"`);
  return Math.round(value * 60_000);
}

/**
 * Poll interval: 5 s by default; the pipeline variable `Anka.PollIntervalSeconds` changes it
 * (the emulator-driven tests and the demo use a short one).
 */
export function pollIntervalMs(): number | undefined {
  const text = tl.getVariable("Anka.PollIntervalSeconds")?.trim();
  if (!text) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`Variable Anka.PollIntervalSeconds must be a positive number; got "${text}"`);
  return Math.round(value * 1000);
}
