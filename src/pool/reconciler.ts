import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { classifyState, isNotFound, type Instance } from "../anka/index.ts";
import {
  AzureDevOpsError,
  agentPlatformFor,
  jobRequestStatus,
  type Agent,
  type AgentPool,
} from "../azdo/index.ts";
import type { Clock } from "../clock.ts";
import {
  AGENT_METADATA_KEY,
  CREATED_BY_METADATA_KEY,
  CREATED_BY_VALUE,
  DEFAULT_SCRIPT_TIMEOUT_SECONDS,
  POOL_METADATA_KEY,
  packageVersionFromUrl,
  preregisterAgent,
  resolveNodeGroup,
  unregisterUnlessStarted,
  resolveTemplate,
  startupScriptFor,
  type OpenedConnection,
  type SecretRegistry,
} from "../core/index.ts";
import { classCapabilities } from "./classes.ts";
import type { PoolClassConfig, PoolConfig } from "./config.ts";
import {
  POOL_CLASS_METADATA_KEY,
  POOL_ORG_METADATA_KEY,
  agentNameOfInstance,
  isPlaceholderName,
  newVmIdentity,
  placeholderName,
  poolClassOf,
} from "./identity.ts";
import {
  LEASE_CAPABILITY,
  formatLease,
  judgeLease,
  leaseDurationMs,
  leaseOf,
  withoutLease,
  leaseHolderFor,
  type Lease,
  type LeaseVerdict,
} from "./lease.ts";
import type { PoolLogger } from "./log.ts";
import { localClock, standbyAt } from "./standby.ts";
import type { PoolMetrics } from "./metrics.ts";
import {
  VM_PHASES,
  planPass,
  timeOf,
  type ClassCounts,
  type ObservedVm,
  type PlanClass,
  type VmVerdict,
} from "./plan.ts";

const generateRsaKeyPair = promisify(generateKeyPair);

/** How long a resolved template (and node group) is trusted before it is looked up again. */
const RESOLUTION_TTL_MS = 10 * 60_000;
/** How long the organization's agent package (URL, version) is trusted. */
const PACKAGE_TTL_MS = 60 * 60_000;
/** Agent.Version of placeholders when the organization's packages API gives none. */
const FALLBACK_AGENT_VERSION = "4.0.0";

export interface ReconcilerDeps {
  connection: OpenedConnection;
  log: PoolLogger;
  clock: Clock;
  metrics: PoolMetrics;
  registerSecret: SecretRegistry;
  /** Gives back what `registerSecret` was given for one VM start, once that start has settled. */
  releaseSecrets?: (values: string[]) => void;
}

export interface PassReport {
  /** The world was read and every action of the pass succeeded. */
  ok: boolean;
  errors: string[];
  durationMs: number;
  /** CPU time of the planning step alone (user + system), in milliseconds. */
  planCpuMs: number;
  queued: number;
  unmatched: number;
  /** Start requests issued by this pass (they complete in the background). */
  startsRequested: number;
  terminated: number;
  classes: Record<string, ClassCounts>;
  /** Another service holds the pool's lease: this pass did nothing. */
  refusedBy?: string;
}

interface Resolution {
  templateId: string;
  templateName: string;
  arch?: string;
  tag?: string;
  groupId?: string;
  capabilities: Record<string, string>;
  at: number;
}

interface ClassHealth {
  failures: number;
  blockedUntil: number;
  lastProblem?: string;
}

/**
 * One reconcile pass at a time over one connection: observe (instances and agents, then job
 * requests), plan (plan.ts), act. What it keeps in memory is only caches (the pool, resolved
 * templates, the agent package), the start requests in flight, backoffs and "already reported"
 * marks: a restarted service loses nothing it needs.
 */
export class PoolReconciler {
  private poolRef: AgentPool | undefined;
  private readonly resolutions = new Map<string, Resolution>();
  private readonly packages = new Map<string, { url: string; version: string; at: number }>();
  private readonly pending = new Map<string, { className: string }>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly health = new Map<string, ClassHealth>();
  private readonly reportedUnmatched = new Set<number>();
  private readonly recordedWaits = new Set<number>();
  private readonly recordedOnline = new Set<string>();
  private readonly startErrors: string[] = [];
  private stopped = false;
  private readonly leaseHolder: string;
  private readonly localTime: ReturnType<typeof localClock>;
  private leaseSince: number | undefined;
  private refusedBy: string | undefined;

  constructor(
    private readonly config: PoolConfig,
    private readonly deps: ReconcilerDeps,
  ) {
    this.leaseHolder = leaseHolderFor(config.source);
    this.localTime = localClock(config.timeZone);
  }

  /** No start after this; in-flight start requests still complete. */
  stopStarting(): void {
    this.stopped = true;
  }

  /** Waits (up to `timeoutMs`) for the start requests in flight; returns how many are still running. */
  async drain(timeoutMs: number): Promise<number> {
    const deadline = this.deps.clock.now() + timeoutMs;
    while (this.inflight.size > 0 && this.deps.clock.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inflight]),
        new Promise(
          (resolve) => (timer = setTimeout(resolve, Math.max(1, deadline - this.deps.clock.now()))),
        ),
      ]);
      clearTimeout(timer);
    }
    return this.inflight.size;
  }

  /** Errors of background starts since the last call (for `--once`). */
  takeStartErrors(): string[] {
    return this.startErrors.splice(0);
  }

  async reconcileOnce(): Promise<PassReport> {
    const { clock, connection, metrics } = this.deps;
    const began = clock.now();
    // Taken before the instances are listed: a start that completes meanwhile is counted at least once.
    const pending = new Map<string, number>();
    for (const { className } of this.pending.values())
      pending.set(className, (pending.get(className) ?? 0) + 1);

    const pool = await this.pool();
    const [instances, agents] = await Promise.all([
      connection.anka.listInstances(),
      connection.azdo.listAgents(pool, { includeAssignedRequest: true, includeLastCompletedRequest: true }),
    ]);
    const jobs = await connection.azdo.listJobRequests(pool);
    await this.resolveClasses();

    const now = clock.now();
    const lease = judgeLease(agents, this.leaseHolder, now);
    if (lease.kind === "refuse") return this.refuse(lease.holder, began);
    if (this.refusedBy !== undefined)
      this.deps.log.info("The pool's lease is free again: this service acts from now on", {
        pool: pool.name,
      });
    this.refusedBy = undefined;
    metrics.leaseHeld.set({}, 1);
    const leaseWrite = this.leaseToWrite(lease, agents, now);
    const vms = instances.map((instance) => this.observe(instance)).filter((vm): vm is ObservedVm => !!vm);
    const classes = this.config.classes.map((config) => this.planClass(config, now));
    // Planning is all in memory: its CPU time is the figure that grows with the fleet (issue 14 item 1).
    const cpuBefore = process.cpuUsage();
    const plan = planPass({
      now,
      classes,
      vms,
      agents,
      jobs,
      pending,
      maxVms: this.config.maxVms,
      startTimeoutMs: this.config.startTimeoutMinutes * 60_000,
      agentTimeoutMs: this.config.agentTimeoutMinutes * 60_000,
    });
    const cpu = process.cpuUsage(cpuBefore);
    const planCpuMs = (cpu.user + cpu.system) / 1000;
    metrics.planCpuSeconds.set({}, planCpuMs / 1000);

    const errors: string[] = [];
    const attempt = async (kind: string, what: string, action: () => Promise<unknown>) => {
      try {
        await action();
      } catch (error) {
        metrics.actionFailures.inc({ kind });
        const message = `${what}: ${(error as Error).message}`;
        errors.push(message);
        this.deps.log.warn(`Could not ${what}`, { error: (error as Error).message });
      }
    };

    // Terminations first: they free the slots the starts may need.
    let terminated = 0;
    await Promise.all(
      plan.verdicts
        .filter((verdict) => verdict.action !== "keep")
        .map((verdict) =>
          attempt("terminate", `terminate instance ${verdict.vm.instanceId}`, async () => {
            if (await this.terminate(pool, verdict)) terminated++;
          }),
        ),
    );
    await Promise.all([
      ...plan.staleAgents.map(({ agent, reason }) =>
        attempt("agent", `remove stale agent ${agent.name}`, async () => {
          await connection.azdo.deleteAgent(pool, agent.id);
          this.deps.log.info(`Removed agent ${agent.name}: ${reason}`, { agent: agent.name });
        }),
      ),
      ...plan.placeholders.remove.map((agent) =>
        attempt("placeholder", `remove placeholder ${agent.name}`, async () => {
          await connection.azdo.deleteAgent(pool, agent.id);
          this.deps.log.info(
            `Removed placeholder agent ${agent.name}: its class is no longer in the config`,
            {
              agent: agent.name,
            },
          );
        }),
      ),
      ...plan.placeholders.update.map(({ agent, className, capabilities }) =>
        attempt("placeholder", `update placeholder ${agent.name}`, async () => {
          // The capabilities are replaced as a whole: the lease goes along.
          const leaseValue =
            leaseWrite?.agent.id === agent.id ? leaseWrite.value : agent.userCapabilities[LEASE_CAPABILITY];
          await connection.azdo.updateAgentUserCapabilities(pool, agent.id, {
            ...capabilities,
            ...(leaseValue ? { [LEASE_CAPABILITY]: leaseValue } : {}),
          });
          this.deps.log.info(`Updated the capabilities of placeholder agent ${agent.name}`, {
            class: className,
            capabilities,
          });
        }),
      ),
      ...(leaseWrite && !plan.placeholders.update.some((update) => update.agent.id === leaseWrite.agent.id)
        ? [
            attempt("lease", `renew the pool's lease on ${leaseWrite.agent.name}`, () =>
              connection.azdo.updateAgentUserCapabilities(pool, leaseWrite.agent.id, {
                ...leaseWrite.agent.userCapabilities,
                [LEASE_CAPABILITY]: leaseWrite.value,
              }),
            ),
          ]
        : []),
      ...plan.placeholders.add.map(({ className, capabilities }) =>
        attempt("placeholder", `register placeholder ${placeholderName(className)}`, () =>
          this.addPlaceholder(pool, className, capabilities),
        ),
      ),
    ]);

    let startsRequested = 0;
    if (!this.stopped) {
      for (const { className, count } of plan.starts) {
        const config = this.config.classes.find((c) => c.name === className);
        const resolution = this.resolutions.get(className);
        if (!config || !resolution) continue;
        const packageUrl = await this.packageUrl(resolution.arch).catch((error: Error) => {
          errors.push(`agent package for class ${className}: ${error.message}`);
          return undefined;
        });
        if (!packageUrl) continue;
        for (let n = 0; n < count; n++) this.launch(pool, config, resolution, packageUrl);
        startsRequested += count;
      }
    }

    this.report(plan, jobs, agents, vms);
    const durationMs = clock.now() - began;
    metrics.passSeconds.set({}, durationMs / 1000);
    metrics.lastSuccess.set({}, clock.now() / 1000);
    metrics.passes.inc({ outcome: errors.length === 0 ? "ok" : "partial" });
    let queued = 0;
    for (const list of plan.queuedByClass.values()) queued += list.length;
    return {
      ok: errors.length === 0,
      errors,
      durationMs,
      planCpuMs,
      queued,
      unmatched: plan.unmatched.length,
      startsRequested,
      terminated,
      classes: Object.fromEntries(plan.counts),
    };
  }

  // ---- the pool's lease (lease.ts) ----

  /** The lease to record this pass: when this service holds none yet, or it is half spent. */
  private leaseToWrite(
    verdict: Extract<LeaseVerdict, { kind: "act" }>,
    agents: Agent[],
    now: number,
  ): { agent: Agent; value: string } | undefined {
    const leaseMs = leaseDurationMs(this.config.pollSeconds * 1000);
    if (verdict.mine && verdict.mine.lease.until - now > leaseMs / 2) return undefined;
    const own = new Set(this.config.classes.map((c) => placeholderName(c.name).toLowerCase()));
    const agent =
      verdict.mine?.agent ??
      agents
        .filter((candidate) => own.has(candidate.name.toLowerCase()))
        .sort((a, b) => a.name.localeCompare(b.name))[0];
    if (!agent) return undefined;
    this.leaseSince ??= verdict.mine?.lease.since ?? now;
    const value = formatLease({ holder: this.leaseHolder, since: this.leaseSince, until: now + leaseMs });
    return { agent, value };
  }

  /**
   * On the way out: removes this service's lease, so that another deployment (or the next
   * `--once`) can act at once instead of waiting for it to lapse. Best effort: a lease left
   * behind just lapses.
   */
  async releaseLease(): Promise<void> {
    if (this.leaseSince === undefined || !this.poolRef) return;
    const pool = this.poolRef;
    try {
      const agents = await this.deps.connection.azdo.listAgents(pool);
      for (const agent of agents) {
        if (leaseOf(agent)?.holder !== this.leaseHolder) continue;
        await this.deps.connection.azdo.updateAgentUserCapabilities(
          pool,
          agent.id,
          withoutLease(agent.userCapabilities),
        );
        this.deps.log.info(`Released the pool's lease on ${agent.name}`, { pool: pool.name });
      }
      this.leaseSince = undefined;
    } catch (error) {
      this.deps.log.warn("Could not release the pool's lease; it lapses by itself", {
        error: (error as Error).message,
      });
    }
  }

  /** Another service holds the pool: this pass changes nothing, and says why once. */
  private refuse(holder: Lease, began: number): PassReport {
    const { log, metrics, clock } = this.deps;
    metrics.leaseHeld.set({}, 0);
    this.leaseSince = undefined;
    if (this.refusedBy !== holder.holder) {
      log.error(
        `Another pool service (${holder.holder}) holds pool "${this.config.pool}" since ${new Date(holder.since).toISOString()}: ` +
          "this one starts and removes nothing while that lease is renewed, and takes over if it lapses. " +
          "Run one service per pool (under systemd with Restart=always for availability).",
        { pool: this.config.pool, holder: holder.holder, until: new Date(holder.until).toISOString() },
      );
    }
    this.refusedBy = holder.holder;
    return {
      ok: true,
      errors: [],
      durationMs: clock.now() - began,
      planCpuMs: 0,
      queued: 0,
      unmatched: 0,
      startsRequested: 0,
      terminated: 0,
      classes: {},
      refusedBy: holder.holder,
    };
  }

  // ---- observation ----

  private async pool(): Promise<AgentPool> {
    this.poolRef ??= await this.deps.connection.azdo.findPool(this.config.pool);
    return this.poolRef;
  }

  private observe(instance: Instance): ObservedVm | undefined {
    if (instance.state === "Terminating" || instance.state === "Terminated") return undefined;
    const className = poolClassOf(instance, this.config.pool, this.deps.connection.agent.azureDevOpsUrl);
    if (!className) return undefined;
    return {
      instanceId: instance.id,
      className,
      state: instance.state,
      ...(instance.message ? { message: instance.message } : {}),
      agentName: agentNameOfInstance(instance) ?? "",
      createdAtMs: timeOf(instance.createdAt),
      updatedAtMs: timeOf(instance.updatedAt),
    };
  }

  /** Resolves templates (and node groups) due for it; a failure leaves the class not ready. */
  private async resolveClasses(): Promise<void> {
    const now = this.deps.clock.now();
    await Promise.all(
      this.config.classes.map(async (config) => {
        const known = this.resolutions.get(config.name);
        if (known && now - known.at < RESOLUTION_TTL_MS) return;
        const health = this.healthOf(config.name);
        if (!known && now < health.blockedUntil) return;
        try {
          const resolved = await resolveTemplate(this.deps.connection.anka, config.template, config.tag);
          const groupId = await resolveNodeGroup(this.deps.connection.anka, config.nodeGroup);
          const template = { templateName: resolved.template.name, templateId: resolved.template.id };
          this.resolutions.set(config.name, {
            ...template,
            arch: resolved.template.arch,
            ...(resolved.tag ? { tag: resolved.tag } : {}),
            ...(groupId ? { groupId } : {}),
            capabilities: classCapabilities(config, template),
            at: now,
          });
          if (!known)
            this.deps.log.info(`Class ${config.name} is ready`, {
              class: config.name,
              ...template,
              tag: config.tag ?? "latest",
            });
        } catch (error) {
          // A stale resolution is still good for starts; only a class never resolved waits.
          if (known) {
            known.at = now;
            return;
          }
          this.problem(config.name, "template", `cannot resolve its template: ${(error as Error).message}`);
        }
      }),
    );
  }

  private planClass(config: PoolClassConfig, now: number): PlanClass {
    const resolution = this.resolutions.get(config.name);
    const health = this.healthOf(config.name);
    return {
      config,
      capabilities: resolution?.capabilities ?? configOnlyCapabilities(config),
      ready: resolution !== undefined,
      blocked: now < health.blockedUntil,
      standby: standbyAt(config.standby, this.localTime(now)),
    };
  }

  // ---- actions ----

  private launch(pool: AgentPool, config: PoolClassConfig, resolution: Resolution, packageUrl: string): void {
    const { connection, log, metrics } = this.deps;
    const identity = newVmIdentity(pool.name, config.name);
    this.pending.set(identity.agentName, { className: config.name });
    // This start's own secrets (its startup script, a pre-registered agent's key): masked while
    // the start request may echo them, released once it has settled (finally, below).
    const secrets: string[] = [];
    const registerSecret = (value: string) => {
      secrets.push(value);
      this.deps.registerSecret(value);
    };
    const task = (async () => {
      const agentIdentity = {
        pool: pool.name,
        agentName: identity.agentName,
        agentIdentifier: identity.agentIdentifier,
        agentPackageUrl: packageUrl,
        extraCapabilities: resolution.capabilities,
      };
      const agentFiles =
        connection.agent.registration === "preregistered"
          ? await preregisterAgent(
              connection.azdo,
              {
                ...agentIdentity,
                pool,
                agentVersion: await this.packageVersion(packageUrl, resolution.arch),
                arch: resolution.arch,
              },
              { registerSecret },
            )
          : undefined;
      const { script } = startupScriptFor(connection.agent, agentIdentity, {
        registerSecret,
        agentFiles,
      });
      // A failed start request removes the pre-registered agent at once; if the service dies in
      // between, the next run finds it as a stale agent (offline, of a class, carried by no VM).
      const instanceId = await unregisterUnlessStarted(
        agentFiles !== undefined,
        { agentName: identity.agentName, pool },
        connection.azdo,
        log,
        () =>
          connection.anka.startInstance({
            templateId: resolution.templateId,
            tag: resolution.tag,
            externalId: identity.externalId,
            name: identity.agentName,
            groupId: resolution.groupId,
            priority: config.priority,
            vcpu: config.vcpu,
            vramMb: config.vram,
            startupScript: script,
            startupScriptCondition: 0,
            scriptMonitoring: true,
            scriptTimeoutSeconds: Math.min(
              DEFAULT_SCRIPT_TIMEOUT_SECONDS,
              Math.ceil(this.config.startTimeoutMinutes * 60),
            ),
            metadata: {
              [CREATED_BY_METADATA_KEY]: CREATED_BY_VALUE,
              [POOL_METADATA_KEY]: pool.name,
              [AGENT_METADATA_KEY]: identity.agentName,
              [POOL_CLASS_METADATA_KEY]: config.name,
              [POOL_ORG_METADATA_KEY]: connection.agent.azureDevOpsUrl,
            },
          }),
      );
      metrics.vmStarts.inc({ class: config.name });
      const health = this.healthOf(config.name);
      health.failures = 0;
      log.info(`Started instance ${instanceId} for agent ${identity.agentName}`, {
        class: config.name,
        instance: instanceId,
        agent: identity.agentName,
      });
    })()
      .catch((error: Error) => {
        this.startErrors.push(`start a VM of class ${config.name}: ${error.message}`);
        this.problem(config.name, "start_request", `a VM start failed: ${error.message}`);
      })
      .finally(() => {
        this.deps.releaseSecrets?.(secrets);
        this.pending.delete(identity.agentName);
        this.inflight.delete(task);
      });
    this.inflight.add(task);
  }

  /** The version of the package a VM downloads: from a mirror's file name, else the packages API. */
  private async packageVersion(packageUrl: string, arch: string | undefined): Promise<string> {
    return packageVersionFromUrl(packageUrl) ?? (await this.agentPackage(agentPlatformFor(arch))).version;
  }

  /** Returns whether the instance was terminated (a recycled VM that just took a job is spared). */
  private async terminate(pool: AgentPool, verdict: VmVerdict): Promise<boolean> {
    const { connection, log, metrics } = this.deps;
    const { vm } = verdict;
    if (verdict.action === "recycle") {
      // The agent goes first: if it took a job meanwhile, the service refuses and the VM stays.
      for (const agent of verdict.agents) {
        try {
          await connection.azdo.deleteAgent(pool, agent.id);
        } catch (error) {
          if (error instanceof AzureDevOpsError && error.httpStatus === 409) {
            log.info(`Kept idle VM ${vm.instanceId}: its agent ${agent.name} has just taken a job`, {
              class: vm.className,
            });
            return false;
          }
          throw error;
        }
      }
    }
    const removeAgents = async () => {
      if (verdict.action === "recycle") return;
      for (const agent of verdict.agents) {
        try {
          await connection.azdo.deleteAgent(pool, agent.id);
        } catch (error) {
          // Still running something after all: the next pass sees it and leaves the VM alone.
          if (error instanceof AzureDevOpsError && error.httpStatus === 409) continue;
          throw error;
        }
      }
    };
    const terminateInstance = async () => {
      try {
        await connection.anka.terminateInstance(vm.instanceId);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    };
    const [instance, agents] = await Promise.allSettled([terminateInstance(), removeAgents()]);
    if (instance.status === "rejected") throw instance.reason;
    const reasonKind =
      verdict.phase === "done"
        ? "done"
        : verdict.action === "recycle"
          ? "idle"
          : /no longer in the config/.test(verdict.reason ?? "")
            ? "removed"
            : "failed";
    metrics.vmTerminations.inc({ class: vm.className, reason: reasonKind });
    // Every VM that goes without having run its job is waste (a warm VM recycled, a failed start).
    if (verdict.phase !== "done") metrics.wastedVms.inc({ class: vm.className });
    if (verdict.phase === "failed")
      metrics.vmStartFailures.inc({ class: vm.className, cause: failureCause(vm) });
    const level = reasonKind === "failed" ? "warn" : "info";
    log[level](
      `Terminated instance ${vm.instanceId} (agent ${vm.agentName}): ${verdict.reason ?? verdict.phase}`,
      {
        class: vm.className,
        instance: vm.instanceId,
        agent: vm.agentName,
        reason: reasonKind,
      },
    );
    if (agents.status === "rejected") throw agents.reason;
    return true;
  }

  private async addPlaceholder(pool: AgentPool, className: string, capabilities: Record<string, string>) {
    const name = placeholderName(className);
    const version = await this.agentVersion();
    const { publicKey } = await generateRsaKeyPair("rsa", { modulusLength: 2048 });
    const jwk = publicKey.export({ format: "jwk" });
    // The private key is dropped: nothing ever connects as this agent.
    const key = {
      exponent: Buffer.from(jwk.e ?? "", "base64url").toString("base64"),
      modulus: Buffer.from(jwk.n ?? "", "base64url").toString("base64"),
    };
    try {
      await this.deps.connection.azdo.addAgent(pool, {
        name,
        version,
        osDescription: "Anka pool service placeholder (never connects)",
        enabled: true,
        publicKey: key,
        systemCapabilities: { "Agent.Name": name, "Agent.OS": "Darwin", "Agent.Version": version },
        userCapabilities: capabilities,
      });
    } catch (error) {
      // Registered by an earlier attempt whose answer was lost: the next pass sees it.
      if (error instanceof AzureDevOpsError && error.httpStatus === 409) return;
      throw error;
    }
    this.deps.log.info(
      `Registered placeholder agent ${name}, so that jobs for class ${className} queue before any VM exists`,
      {
        class: className,
        agent: name,
        capabilities,
      },
    );
  }

  private async packageUrl(arch: string | undefined): Promise<string> {
    const mirror = this.deps.connection.agent.agentDownloadUrl;
    if (mirror) return mirror;
    return (await this.agentPackage(agentPlatformFor(arch))).url;
  }

  private async agentVersion(): Promise<string> {
    try {
      const arch = this.resolutions.values().next().value?.arch;
      return (await this.agentPackage(agentPlatformFor(arch))).version;
    } catch (error) {
      this.deps.log.debug(
        `No agent version from the packages API (${(error as Error).message}); placeholders say ${FALLBACK_AGENT_VERSION}`,
      );
      return FALLBACK_AGENT_VERSION;
    }
  }

  private async agentPackage(platform: string) {
    const now = this.deps.clock.now();
    const known = this.packages.get(platform);
    if (known && now - known.at < PACKAGE_TTL_MS) return known;
    const latest = await this.deps.connection.azdo.latestAgentPackage(platform);
    const entry = { url: latest.downloadUrl, version: latest.version, at: now };
    this.packages.set(platform, entry);
    return entry;
  }

  // ---- bookkeeping ----

  private healthOf(className: string): ClassHealth {
    let health = this.health.get(className);
    if (!health) {
      health = { failures: 0, blockedUntil: 0 };
      this.health.set(className, health);
    }
    return health;
  }

  /** A class-level failure: logged when new, and the class waits a growing time before it tries again. */
  private problem(className: string, cause: StartFailureCause, problem: string): void {
    const health = this.healthOf(className);
    health.failures++;
    const pollMs = this.config.pollSeconds * 1000;
    const delay = Math.min(Math.max(pollMs, 300_000), pollMs * 2 ** Math.min(health.failures, 10));
    health.blockedUntil = this.deps.clock.now() + delay;
    this.deps.metrics.vmStartFailures.inc({ class: className, cause });
    if (health.lastProblem !== problem || health.failures === 1) {
      this.deps.log.warn(`Class ${className}: ${problem}`, {
        class: className,
        retryInSeconds: Math.round(delay / 100) / 10,
      });
    }
    health.lastProblem = problem;
  }

  private report(
    plan: ReturnType<typeof planPass>,
    jobs: Awaited<ReturnType<OpenedConnection["azdo"]["listJobRequests"]>>,
    agents: Agent[],
    vms: ObservedVm[],
  ): void {
    const { metrics, log } = this.deps;
    metrics.queuedJobs.reset();
    for (const [className, list] of plan.queuedByClass)
      metrics.queuedJobs.set({ class: className }, list.length);
    metrics.vms.reset();
    for (const [className, counts] of plan.counts) {
      for (const phase of VM_PHASES)
        metrics.vms.set({ class: className, state: phase }, counts.phases[phase]);
      metrics.vms.set({ class: className, state: "pending" }, counts.pending);
    }
    metrics.placeholders.set({}, agents.filter((agent) => isPlaceholderName(agent.name)).length);

    // Unmatched jobs: reported once each, never served.
    const queuedIds = new Set(
      jobs.filter((job) => jobRequestStatus(job) === "queued").map((job) => job.requestId),
    );
    for (const id of this.reportedUnmatched) if (!queuedIds.has(id)) this.reportedUnmatched.delete(id);
    metrics.unmatchedJobs.set({}, plan.unmatched.length);
    for (const { job, reason } of plan.unmatched) {
      if (this.reportedUnmatched.has(job.requestId)) continue;
      this.reportedUnmatched.add(job.requestId);
      metrics.unmatchedJobsTotal.inc();
      log.warn(
        `Job request ${job.requestId}${job.jobName ? ` (${job.jobName})` : ""} demands ${job.demands.join(", ") || "nothing"}: ${reason}. ` +
          "No VM is started for it; add a class that serves it, or correct the pipeline's demands.",
        { request: job.requestId, demands: job.demands },
      );
    }

    // Start-to-online times, once per VM whose agent came online.
    const online = new Map(
      agents.filter((agent) => agent.status === "online").map((agent) => [agent.name.toLowerCase(), agent]),
    );
    for (const vm of vms) {
      const agent = online.get(vm.agentName.toLowerCase());
      if (!agent || vm.createdAtMs === undefined || this.recordedOnline.has(vm.instanceId)) continue;
      remember(this.recordedOnline, vm.instanceId);
      const at = timeOf(agent.statusChangedOn) ?? this.deps.clock.now();
      metrics.startToOnline.observe({ class: vm.className }, Math.max(0, at - vm.createdAtMs) / 1000);
    }

    // Queue-to-agent times, once per request given to one of our VMs.
    const ours = new Map(vms.map((vm) => [vm.agentName.toLowerCase(), vm.className]));
    for (const job of jobs) {
      if (!job.reservedAgent || this.recordedWaits.has(job.requestId)) continue;
      const className = ours.get(job.reservedAgent.name.toLowerCase());
      if (className === undefined) continue;
      const queued = timeOf(job.queueTime);
      const assigned = timeOf(job.assignTime);
      if (queued === undefined || assigned === undefined) continue;
      remember(this.recordedWaits, job.requestId);
      metrics.jobWait.observe({ class: className }, Math.max(0, assigned - queued) / 1000);
    }
  }
}

/** What a class advertises before its template is resolved: only what the config says outright. */
function configOnlyCapabilities(config: PoolClassConfig): Record<string, string> {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(config.template);
  const known: Record<string, string | undefined> = {
    "anka-class": config.name,
    "anka-template": uuid ? undefined : config.template,
    "anka-template-id": uuid ? config.template : undefined,
    "anka-template-tag": config.tag,
  };
  const capabilities: Record<string, string> = {};
  for (const name of config.capabilities) {
    const value = known[name];
    if (value) capabilities[name] = value;
  }
  return capabilities;
}

/** Marks an item as recorded, forgetting the oldest beyond 10,000 (a set per long-lived service). */
function remember<T>(set: Set<T>, item: T): void {
  set.add(item);
  if (set.size > 10_000) set.delete(set.values().next().value as T);
}

export type StartFailureCause = "template" | "start_request" | "instance_error" | "start_timeout" | "agent";

/** Why a VM that never ran a job failed, for `anka_pool_vm_start_failures_total{cause}`. */
function failureCause(vm: ObservedVm): StartFailureCause {
  if (vm.state === "Error" || vm.state === "Stopping" || vm.state === "Stopped") return "instance_error";
  return classifyState(vm.state) === "pending" ? "start_timeout" : "agent";
}
