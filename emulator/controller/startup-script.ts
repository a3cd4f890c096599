// Runs an instance's startup script through the ScriptRunner hook and turns what happened into the
// `startup_script` result object (startup-scripts A2-A3): exit code, or -1 with did_timeout on timeout.
import { setTimeout as sleep } from "node:timers/promises";
import type { StartupScriptResult } from "./api-shapes.ts";
import type { ScriptContext, ScriptOutcome, ScriptRunner } from "./types.ts";

/** After a timeout, how long a runner may take to hand back its partial output. */
const TIMEOUT_GRACE_MS = 1000;
/** The controller keeps the last 1 MB of Save-Image script output (startup-scripts A3); same cap here. */
const MAX_OUTPUT_CHARS = 1024 * 1024;

export const succeedSilently: ScriptRunner = async () => ({
  return_code: 0,
  did_timeout: false,
  stdout: "",
  stderr: "",
});

/** Node fires longer timers at once; a script_timeout of weeks is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Settled = { ok: true; outcome: ScriptOutcome } | { ok: false; error: unknown };

/**
 * Resolves to the result object, or undefined when `kill` fired first (the VM is gone, nobody reads it).
 * The runner sees one signal that fires on kill and on timeout.
 */
export async function runStartupScript(
  runner: ScriptRunner,
  context: Omit<ScriptContext, "signal">,
  kill: AbortSignal,
): Promise<StartupScriptResult | undefined> {
  const timeout = new AbortController();
  const signal = AbortSignal.any([kill, timeout.signal]);
  const timer = setTimeout(
    () => timeout.abort(new Error("startup script timed out")),
    Math.min(context.timeoutSec * 1000, MAX_TIMER_MS),
  );
  const running: Promise<Settled> = Promise.resolve()
    .then(() => runner({ ...context, signal }))
    .then(
      (outcome): Settled =>
        isScriptOutcome(outcome)
          ? { ok: true, outcome }
          : {
              ok: false,
              error: new TypeError(
                "the script runner returned no {return_code, did_timeout, stdout, stderr}",
              ),
            },
      (error: unknown): Settled => ({ ok: false, error }),
    );
  const aborted = untilAborted(signal);
  try {
    const first = await Promise.race([running, aborted.promise]);
    if (kill.aborted) return undefined;
    if (first === "aborted") {
      const late = await Promise.race([
        running,
        sleep(TIMEOUT_GRACE_MS, undefined, { signal: kill }).catch(() => {}),
      ]);
      if (kill.aborted) return undefined;
      const partial = late?.ok ? late.outcome : undefined;
      return {
        return_code: -1,
        did_timeout: true,
        stdout: tail(partial?.stdout ?? ""),
        stderr: tail(partial?.stderr ?? ""),
      };
    }
    if (!first.ok) {
      // `anka run` itself failed: reference §4.1 `errors`, evidenced message "Script execution failed".
      const reason = first.error instanceof Error ? first.error.message : String(first.error);
      return { return_code: -1, did_timeout: false, stdout: "", stderr: "", errors: [reason] };
    }
    const { return_code, did_timeout, stdout, stderr } = first.outcome;
    return { return_code, did_timeout, stdout: tail(stdout), stderr: tail(stderr) };
  } finally {
    clearTimeout(timer);
    aborted.dispose();
  }
}

function untilAborted(signal: AbortSignal): { promise: Promise<"aborted">; dispose: () => void } {
  let onAbort = () => {};
  const promise = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

function isScriptOutcome(value: unknown): value is ScriptOutcome {
  if (typeof value !== "object" || value === null) return false;
  const outcome = value as Record<string, unknown>;
  return (
    typeof outcome.return_code === "number" &&
    typeof outcome.did_timeout === "boolean" &&
    typeof outcome.stdout === "string" &&
    typeof outcome.stderr === "string"
  );
}

const tail = (text: string) => (text.length > MAX_OUTPUT_CHARS ? text.slice(-MAX_OUTPUT_CHARS) : text);
