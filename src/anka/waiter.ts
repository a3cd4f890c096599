import type { AnkaClient } from "./client.ts";
import { realClock, type Clock } from "../clock.ts";
import { ControllerError, isNotFound } from "./errors.ts";
import { classifyState, type Instance } from "./model.ts";

export interface WaitOptions {
  /** Give up after this long, counted from the call. */
  timeoutMs: number;
  /** Poll interval while the instance is moving (pulling, booting). */
  pollIntervalMs: number;
  /**
   * Once nothing has changed for `backoffAfterMs` (queued in Scheduling for capacity), the
   * interval grows by `backoffFactor` per unchanged poll, up to `maxPollIntervalMs`; any change
   * brings it back to `pollIntervalMs`. A normal start never backs off, so Started is noticed
   * within one interval; a long queue costs the controller less.
   */
  backoffAfterMs?: number;
  backoffFactor?: number;
  maxPollIntervalMs?: number;
  clock?: Clock;
  signal?: AbortSignal;
  /** Every answer, for progress reports (pull progress, state changes). */
  onPoll?: (instance: Instance) => void;
  /** A poll failed for a transient reason; waiting goes on. */
  onTransientError?: (error: ControllerError) => void;
}

export class InstanceFailedError extends Error {
  constructor(readonly instance: Instance) {
    super(describeFailure(instance));
    this.name = "InstanceFailedError";
  }
}

export class InstanceWaitTimeoutError extends Error {
  constructor(
    readonly instanceId: string,
    readonly timeoutMs: number,
    readonly lastSeen: Instance | undefined,
  ) {
    super(
      `Instance ${instanceId} was not Started within ${formatDuration(timeoutMs)}; last state: ${lastSeen?.state ?? "unknown"}` +
        (lastSeen?.state === "Scheduling"
          ? ". It is waiting for a free slot: the nodes may be full, or no node can run this template"
          : ""),
    );
    this.name = "InstanceWaitTimeoutError";
  }
}

/**
 * Polls an instance until it is ready (Started), has failed, or the timeout passes. The poll
 * interval stays short while the instance moves and backs off while it sits unchanged in the
 * queue, so hundreds of queued waiters do not hammer the controller.
 */
export async function waitForInstance(
  client: Pick<AnkaClient, "getInstance">,
  instanceId: string,
  options: WaitOptions,
): Promise<Instance> {
  const clock = options.clock ?? realClock;
  const factor = options.backoffFactor ?? 1.5;
  const maxInterval = Math.max(
    options.pollIntervalMs,
    options.maxPollIntervalMs ?? options.pollIntervalMs * 6,
  );
  const deadline = clock.now() + options.timeoutMs;
  let interval = options.pollIntervalMs;
  let lastSeen: Instance | undefined;
  const backoffAfterMs = options.backoffAfterMs ?? 60_000;
  let lastFingerprint = "";
  let unchangedSince = clock.now();

  for (;;) {
    const remaining = deadline - clock.now();
    if (remaining <= 0) throw new InstanceWaitTimeoutError(instanceId, options.timeoutMs, lastSeen);
    // Sleep first: right after a start request the answer is always Scheduling.
    await clock.sleep(Math.min(interval, remaining), options.signal);
    try {
      const instance = await client.getInstance(instanceId);
      lastSeen = instance;
      options.onPoll?.(instance);
      const verdict = classifyState(instance.state);
      if (verdict === "ready") return instance;
      if (verdict === "failed") throw new InstanceFailedError(instance);
      const fingerprint = `${instance.state}|${instance.progress}|${instance.vminfo ? 1 : 0}`;
      if (fingerprint !== lastFingerprint) {
        lastFingerprint = fingerprint;
        unchangedSince = clock.now();
        interval = options.pollIntervalMs;
      } else if (clock.now() - unchangedSince >= backoffAfterMs) {
        interval = Math.min(maxInterval, interval * factor);
      }
    } catch (error) {
      if (isNotFound(error)) {
        throw new Error(
          `Instance ${instanceId} disappeared from the controller while we waited for it to start (it was terminated by someone else)`,
          { cause: error },
        );
      }
      if (!(error instanceof ControllerError) || !error.retryable) throw error;
      options.onTransientError?.(error);
    }
  }
}

function describeFailure(instance: Instance): string {
  const script = instance.startupScript;
  if (script && (script.returnCode !== 0 || script.didTimeout)) {
    const how = script.didTimeout ? "timed out" : `exited with code ${script.returnCode}`;
    const tail = tailLines(script.stderr || script.stdout, 20);
    return `The startup script of instance ${instance.id} ${how}${tail ? `. Its last output:\n${tail}` : ""}`;
  }
  return `Instance ${instance.id} went to ${instance.state}${instance.message ? `: ${instance.message}` : ""}`;
}

function tailLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
  return `${ms} ms`;
}
