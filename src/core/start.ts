import { waitForInstance, type AnkaClient } from "../anka/index.ts";
import type { KeyObject } from "node:crypto";
import type { AzureDevOpsClient } from "../azdo/index.ts";
import { agentNameFor, type AgentFiles } from "../bootstrap/index.ts";
import { chooseAgentPackage, preregisterAgent, unregisterUnlessStarted } from "./preregister.ts";
import { startupScriptFor } from "./startup-script.ts";
import { realClock, type Clock } from "../clock.ts";
import { waitForAgentOnline } from "./agent-wait.ts";
import type { Logger, SecretRegistry } from "./ports.ts";
import { StartProgressReporter } from "./progress.ts";
import { InputError, resolveNodeGroup, resolveTemplate } from "./resolve.ts";
import { rollBack, terminateDuplicates, type RollbackTarget } from "./rollback.ts";
import {
  AGENT_METADATA_KEY,
  CREATED_BY_METADATA_KEY,
  CREATED_BY_VALUE,
  POOL_METADATA_KEY,
  RUN_URL_METADATA_KEY,
  type AgentSettings,
} from "./settings.ts";

/** One VM with one single-use agent (contract §3). Durations in milliseconds. */
export interface StartRequest {
  template: string;
  tag?: string;
  agentIdentifier: string;
  nodeGroup?: string;
  priority?: number;
  vcpu?: number;
  vramMb?: number;
  /** Task-level custom startup script: replaces the connection's and the built-in one. */
  startupScript?: string;
  startTimeoutMs: number;
  agentTimeoutMs: number;
  waitForAgent: boolean;
  keepInstanceOnFailure: boolean;
  /** Link to the pipeline run, stored in the instance's metadata. */
  runUrl?: string;
  /** Controller-side limit for the startup script (config.sh included). */
  scriptTimeoutSeconds?: number;
  extraCapabilities?: Record<string, string>;
}

export interface StartResult {
  instanceId: string;
  agentName: string;
  agentIdentifier: string;
  nodeId: string;
  vmIp: string;
  templateId: string;
  templateName: string;
  tag: string | undefined;
}

export interface FlowContext {
  anka: AnkaClient;
  azdo: AzureDevOpsClient;
  agent: AgentSettings;
  log: Logger;
  registerSecret?: SecretRegistry;
  clock?: Clock;
  /** Aborted on cancellation (SIGINT/SIGTERM): the flow rolls back and rejects. */
  signal?: AbortSignal;
  pollIntervalMs?: number;
  /**
   * While an instance sits unchanged (queued for a slot) the waiter polls less often: after
   * `afterMs` without change, up to every `maxIntervalMs` (defaults 60 s and 30 s; see waitForInstance).
   */
  waitBackoff?: { afterMs: number; maxIntervalMs: number };
  rollbackBudgetMs?: number;
  /** agentRegistration preregistered: a fixed agent key instead of a fresh one (tests). */
  agentKey?: KeyObject;
}

export const DEFAULT_SCRIPT_TIMEOUT_SECONDS = 900;
export const DEFAULT_POLL_INTERVAL_MS = 5_000;

export class StartCancelledError extends Error {
  constructor(reason: unknown, stage: "requested" | "registered" | "before" = "requested") {
    super(
      `Start was cancelled${reason instanceof Error && reason.message ? ` (${reason.message})` : ""}` +
        {
          requested: "; the instance and its agent were rolled back",
          registered: " before an instance was requested: its pre-registered agent was removed",
          before: " before an instance was requested: nothing to roll back",
        }[stage],
    );
    this.name = "StartCancelledError";
  }
}

/**
 * `work`, or a StartCancelledError as soon as the signal aborts: before the start request nothing
 * exists, so a cancelled task need not wait for a slow controller's answers (the agent kills it
 * 7.5 s after SIGINT). The abandoned work's outcome is ignored.
 */
function beforeRequest<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StartCancelledError(signal.reason, "before"));
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) onAbort();
    void work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Resolve, request, wait for Started, wait for the agent, report; and on every failure or
 * cancellation after the request, roll back (contract §3 steps 1-5).
 */
export async function startInstance(request: StartRequest, ctx: FlowContext): Promise<StartResult> {
  const clock = ctx.clock ?? realClock;
  const pollIntervalMs = ctx.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  validateRequest(request);

  // Everything that can be wrong in the inputs is found before anything is started.
  const resolved = await beforeRequest(resolveTemplate(ctx.anka, request.template, request.tag), ctx.signal);
  const groupId = await beforeRequest(resolveNodeGroup(ctx.anka, request.nodeGroup), ctx.signal);
  const pool = await beforeRequest(ctx.azdo.findPool(ctx.agent.pool), ctx.signal);
  const agentName = agentNameFor(request.agentIdentifier);
  const agentPackage = await beforeRequest(
    chooseAgentPackage(ctx.azdo, ctx.agent, resolved.template.arch),
    ctx.signal,
  );
  const identity = {
    pool: pool.name,
    agentName,
    agentIdentifier: request.agentIdentifier,
    agentPackageUrl: agentPackage.url,
    extraCapabilities: request.extraCapabilities,
  };
  let agentFiles: AgentFiles | undefined;
  if (ctx.agent.registration === "preregistered") {
    if (ctx.signal?.aborted) throw new StartCancelledError(ctx.signal.reason, "before");
    // Not abandoned on cancellation like the lookups above: once this answers, an agent exists.
    agentFiles = await preregisterAgent(
      ctx.azdo,
      { ...identity, pool, agentVersion: agentPackage.version ?? "", arch: resolved.template.arch },
      { registerSecret: ctx.registerSecret, privateKey: ctx.agentKey },
    );
    ctx.log.info(
      `Registered agent ${agentName} in pool "${pool.name}" with its own key (agentRegistration preregistered)`,
    );
  }
  const registered = agentFiles !== undefined;
  const receipt = await unregisterUnlessStarted(
    registered,
    { agentName, pool },
    ctx.azdo,
    ctx.log,
    async () => {
      const { script, custom } = startupScriptFor(ctx.agent, identity, {
        customScript: request.startupScript,
        registerSecret: ctx.registerSecret,
        agentFiles,
      });
      ctx.log.info(
        `Starting a VM from template "${resolved.template.name}" (${resolved.template.id}), tag ${resolved.effectiveTag ?? "latest"}, ` +
          `for agent ${agentName} in pool "${pool.name}"${custom ? " with a custom startup script" : ""}`,
      );
      if (ctx.signal?.aborted)
        throw new StartCancelledError(ctx.signal.reason, registered ? "registered" : "before");
      return ctx.anka.startInstancesWithReceipt({
        count: 1,
        templateId: resolved.template.id,
        tag: resolved.tag,
        externalId: request.agentIdentifier,
        name: agentName,
        groupId,
        priority: request.priority,
        vcpu: request.vcpu,
        vramMb: request.vramMb,
        startupScript: script,
        startupScriptCondition: 0,
        scriptMonitoring: true,
        scriptTimeoutSeconds: request.scriptTimeoutSeconds ?? DEFAULT_SCRIPT_TIMEOUT_SECONDS,
        metadata: {
          [CREATED_BY_METADATA_KEY]: CREATED_BY_VALUE,
          [POOL_METADATA_KEY]: pool.name,
          [AGENT_METADATA_KEY]: agentName,
          ...(request.runUrl ? { [RUN_URL_METADATA_KEY]: request.runUrl } : {}),
        },
      });
    },
  );
  const instanceId = receipt.ids[0] as string;
  ctx.log.info(`Requested instance ${instanceId}`);

  try {
    ctx.signal?.throwIfAborted();
    const progress = new StartProgressReporter(ctx.log, clock);
    const started = await waitForInstance(ctx.anka, instanceId, {
      timeoutMs: request.startTimeoutMs,
      pollIntervalMs,
      backoffAfterMs: ctx.waitBackoff?.afterMs ?? 60_000,
      maxPollIntervalMs: Math.max(pollIntervalMs, ctx.waitBackoff?.maxIntervalMs ?? 30_000),
      clock,
      signal: ctx.signal,
      onPoll: (instance) => progress.report(instance),
      onTransientError: (error) => ctx.log.debug(`Controller hiccup while waiting: ${error.message}`),
    });
    // A duplicate from a lost answer would register the same agent name: remove it before it does.
    if (receipt.mayHaveDuplicates)
      await terminateDuplicates(
        { instanceId, agentName, pool, startToken: receipt.token },
        ctx.anka,
        ctx.log,
      );
    if (request.waitForAgent) {
      await waitForAgentOnline({
        anka: ctx.anka,
        azdo: ctx.azdo,
        pool,
        agentName,
        instanceId,
        timeoutMs: request.agentTimeoutMs,
        pollIntervalMs,
        clock,
        log: ctx.log,
        signal: ctx.signal,
      });
      ctx.log.info(`Agent ${agentName} is online in pool "${pool.name}"`);
    }
    return {
      instanceId,
      agentName,
      agentIdentifier: request.agentIdentifier,
      nodeId: started.nodeId ?? started.vminfo?.nodeId ?? "",
      vmIp: started.vminfo?.ip ?? "",
      templateId: resolved.template.id,
      templateName: resolved.template.name,
      tag: resolved.effectiveTag,
    };
  } catch (error) {
    const startToken = receipt.mayHaveDuplicates ? receipt.token : undefined;
    await handleFailure({ instanceId, agentName, pool, startToken }, request, ctx);
    if (ctx.signal?.aborted) throw new StartCancelledError(ctx.signal.reason);
    throw error;
  }
}

async function handleFailure(target: RollbackTarget, request: StartRequest, ctx: FlowContext) {
  if (request.keepInstanceOnFailure) {
    ctx.log.warn(
      `keepInstanceOnFailure is set: instance ${target.instanceId} and agent ${target.agentName} are left for debugging. ` +
        "Remove them with AnkaTerminateInstance or `anka-azdo terminate` when done.",
    );
    return;
  }
  await rollBack(target, ctx.anka, ctx.azdo, ctx.log, ctx.rollbackBudgetMs ?? 6_000);
}

function validateRequest(request: StartRequest): void {
  if (!request.agentIdentifier.trim()) {
    throw new InputError(
      "agentIdentifier is empty. Leave it at its default $(Build.BuildId) or give a value unique to this run.",
    );
  }
  if (
    request.priority !== undefined &&
    !(Number.isInteger(request.priority) && request.priority >= 1 && request.priority <= 10_000)
  ) {
    throw new InputError(
      `priority must be a whole number from 1 to 10000 (lower is more urgent); got ${request.priority}`,
    );
  }
  for (const [name, value] of [
    ["vcpu", request.vcpu],
    ["vram", request.vramMb],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new InputError(`${name} must be a positive whole number; got ${value}`);
    }
  }
  for (const [name, value] of [
    ["startTimeoutMinutes", request.startTimeoutMs],
    ["agentTimeoutMinutes", request.agentTimeoutMs],
  ] as const) {
    if (!(Number.isFinite(value) && value > 0))
      throw new InputError(`${name} must be a positive number of minutes`);
  }
}
