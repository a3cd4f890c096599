import { classifyState, type InstanceState } from "../anka/index.ts";
import { jobRequestStatus, type Agent, type JobRequest } from "../azdo/index.ts";
import { judgeJob, sameCapabilities, type ClassCapabilities } from "./classes.ts";
import type { PoolClassConfig } from "./config.ts";
import { CLASS_CAPABILITY, isPlaceholderName, placeholderName } from "./identity.ts";
import { withoutLease } from "./lease.ts";

/**
 * One reconcile pass's decisions, from one observation of the world and nothing else: which VMs to
 * terminate, which stale agents to delete, how many VMs to start per class, which placeholders to
 * add, fix or remove. A pure function, so that every rule is testable without a server.
 *
 * Why one request never gets two VMs: a class's *supply* is every VM of the class that has not
 * taken a job yet (starting, registering, idle) plus the starts still in flight; a pass starts
 * `queued + standby - supply` VMs at most. A VM leaves the supply only by taking a job, and a job
 * leaves the queue only by being given to an agent, so supply never falls below the queue it was
 * started for. The reconciler reads instances and agents *before* job requests: a race can then
 * only make a job look served (fewer starts, corrected next pass), never a VM look busy while its
 * job still looks queued.
 */

export type VmPhase = "starting" | "registering" | "idle" | "busy" | "done" | "failed";
export const VM_PHASES: readonly VmPhase[] = ["starting", "registering", "idle", "busy", "done", "failed"];

export interface ObservedVm {
  instanceId: string;
  className: string;
  state: InstanceState;
  message?: string;
  agentName: string;
  createdAtMs?: number;
  /** The controller's `ts`: last update of the instance (its state change to Started, at the latest). */
  updatedAtMs?: number;
}

export interface PlanClass {
  config: PoolClassConfig;
  /** The class's capabilities; from the config alone while its template is not resolved. */
  capabilities: Record<string, string>;
  /** Template (and node group) resolved: VMs can be started. */
  ready: boolean;
  /** A recent start failed: no new starts until the backoff ends. */
  blocked: boolean;
  /** Warm VMs wanted now (the class's standby schedule read at this pass's time). */
  standby: number;
}

export interface PlanInput {
  now: number;
  classes: PlanClass[];
  vms: ObservedVm[];
  /** Every agent of the pool, with assigned and last completed requests. */
  agents: Agent[];
  /** The pool's unfinished job requests. */
  jobs: JobRequest[];
  /** Start requests in flight, per class (taken before the instances were listed). */
  pending: ReadonlyMap<string, number>;
  maxVms: number;
  startTimeoutMs: number;
  agentTimeoutMs: number;
}

export type VmAction = "keep" | "terminate" | "recycle";

export interface VmVerdict {
  vm: ObservedVm;
  phase: VmPhase;
  /** `recycle`: an idle VM; its agent is deleted first, and it is spared if that fails (it just took a job). */
  action: VmAction;
  reason?: string;
  /** Every agent record with the VM's agent name. */
  agents: Agent[];
}

export interface PlaceholderChanges {
  add: { className: string; capabilities: Record<string, string> }[];
  update: { className: string; agent: Agent; capabilities: Record<string, string> }[];
  remove: Agent[];
}

export interface ClassCounts {
  phases: Record<VmPhase, number>;
  pending: number;
  /** Live VMs after this pass's terminations, pending starts included: what `max` caps. */
  live: number;
  /** VMs that have not taken a job yet, pending starts included. */
  supply: number;
  queued: number;
  start: number;
}

export interface Plan {
  verdicts: VmVerdict[];
  staleAgents: { agent: Agent; reason: string }[];
  starts: { className: string; count: number }[];
  queuedByClass: Map<string, JobRequest[]>;
  unmatched: { job: JobRequest; reason: string }[];
  /** Jobs pinned to one agent (a Start task's VM): not this service's to serve. */
  pinned: JobRequest[];
  placeholders: PlaceholderChanges;
  counts: Map<string, ClassCounts>;
  /** Live VMs across all classes (removed classes too) after this pass, pending starts included. */
  liveTotal: number;
}

const FAILED_STATES = new Set(["Error", "Stopping", "Stopped"]);

export function planPass(input: PlanInput): Plan {
  const configured = new Map(input.classes.map((entry) => [entry.config.name.toLowerCase(), entry]));
  const agentsByName = new Map<string, Agent[]>();
  for (const agent of input.agents) {
    const key = agent.name.toLowerCase();
    agentsByName.set(key, [...(agentsByName.get(key) ?? []), agent]);
  }

  const verdicts = input.vms.map((vm) => {
    const agents = agentsByName.get(vm.agentName.toLowerCase()) ?? [];
    const entry = configured.get(vm.className.toLowerCase());
    return judgeVm(vm, agents, entry?.config, input);
  });

  // Jobs: queued ones decide the starts; the others only matter for the metrics.
  const judged = input.classes.map<ClassCapabilities>((entry) => ({
    name: entry.config.name,
    capabilities: entry.capabilities,
  }));
  const queuedByClass = new Map<string, JobRequest[]>(input.classes.map((entry) => [entry.config.name, []]));
  const unmatched: Plan["unmatched"] = [];
  const pinned: JobRequest[] = [];
  for (const job of input.jobs) {
    if (jobRequestStatus(job) !== "queued") continue;
    const verdict = judgeJob(job.demands, judged);
    if (verdict.kind === "class") queuedByClass.get(verdict.className)?.push(job);
    else if (verdict.kind === "pinned") pinned.push(job);
    else unmatched.push({ job, reason: verdict.reason });
  }

  const counts = new Map<string, ClassCounts>();
  const countsOf = (className: string) => {
    const key = configured.get(className.toLowerCase())?.config.name ?? className;
    let entry = counts.get(key);
    if (!entry) {
      const pending = input.pending.get(key) ?? 0;
      entry = {
        phases: { starting: 0, registering: 0, idle: 0, busy: 0, done: 0, failed: 0 },
        pending,
        live: pending,
        supply: pending,
        queued: queuedByClass.get(key)?.length ?? 0,
        start: 0,
      };
      counts.set(key, entry);
    }
    return entry;
  };
  for (const entry of input.classes) countsOf(entry.config.name);
  for (const verdict of verdicts) {
    const entry = countsOf(verdict.vm.className);
    entry.phases[verdict.phase]++;
    if (verdict.action !== "keep") continue;
    entry.live++;
    if (verdict.phase === "starting" || verdict.phase === "registering" || verdict.phase === "idle")
      entry.supply++;
  }
  let liveTotal = [...counts.values()].reduce((sum, entry) => sum + entry.live, 0);

  // Starts: first what the queue needs, then standby; the classes whose oldest job waits longest first.
  const order = [...input.classes].sort(
    (a, b) =>
      oldestQueueTime(queuedByClass.get(a.config.name)) - oldestQueueTime(queuedByClass.get(b.config.name)),
  );
  for (const wantsStandby of [false, true]) {
    let progress = true;
    // One VM per class per round, so a long queue in one class does not take the whole headroom.
    while (progress && liveTotal < input.maxVms) {
      progress = false;
      for (const entry of order) {
        if (!entry.ready || entry.blocked || liveTotal >= input.maxVms) continue;
        const c = countsOf(entry.config.name);
        const wanted = c.queued + (wantsStandby ? entry.standby : 0);
        if (c.supply >= wanted || c.live >= entry.config.max) continue;
        c.start++;
        c.supply++;
        c.live++;
        liveTotal++;
        progress = true;
      }
    }
  }
  const starts = input.classes
    .map((entry) => ({ className: entry.config.name, count: countsOf(entry.config.name).start }))
    .filter((start) => start.count > 0);

  return {
    verdicts,
    staleAgents: staleAgents(input, new Set(input.vms.map((vm) => vm.agentName.toLowerCase()))),
    starts,
    queuedByClass,
    unmatched,
    pinned,
    placeholders: placeholderChanges(input),
    counts,
    liveTotal,
  };
}

function judgeVm(
  vm: ObservedVm,
  agents: Agent[],
  config: PoolClassConfig | undefined,
  input: PlanInput,
): VmVerdict {
  const verdict = (phase: VmPhase, action: VmAction = "keep", reason?: string): VmVerdict => {
    // A class removed from the config: its VMs go as soon as they are not running a job.
    if (!config && phase !== "busy" && action === "keep")
      return {
        vm,
        phase,
        agents,
        action: "terminate",
        reason: `class ${vm.className} is no longer in the config`,
      };
    return { vm, phase, agents, action, ...(reason ? { reason } : {}) };
  };
  const { now } = input;
  const agent =
    agents.find((a) => a.assignedRequest) ?? agents.find((a) => a.status === "online") ?? agents[0];

  // A running job is left alone, whatever the controller says about the instance.
  if (agent?.assignedRequest) return verdict("busy");
  if (FAILED_STATES.has(vm.state)) {
    return verdict(
      "failed",
      "terminate",
      `the instance is ${vm.state}${vm.message ? `: ${vm.message}` : ""}`,
    );
  }
  if (agent?.lastCompletedRequest) {
    return verdict(
      "done",
      "terminate",
      `its agent ran its one job (request ${agent.lastCompletedRequest.requestId}${agent.lastCompletedRequest.result ? `, ${agent.lastCompletedRequest.result}` : ""})`,
    );
  }
  if (agent?.status === "online") {
    const since = timeOf(agent.statusChangedOn) ?? timeOf(agent.createdOn) ?? vm.createdAtMs ?? now;
    const idleMs = now - since;
    if (config && idleMs > config.idleMinutes * 60_000) {
      return verdict(
        "idle",
        "recycle",
        `idle for ${seconds(idleMs)}, longer than idleMinutes (${config.idleMinutes})`,
      );
    }
    return verdict("idle");
  }
  if (classifyState(vm.state) === "pending") {
    const ageMs = vm.createdAtMs === undefined ? 0 : now - vm.createdAtMs;
    if (ageMs > input.startTimeoutMs) {
      return verdict(
        "failed",
        "terminate",
        `not Started within startTimeoutMinutes (${seconds(input.startTimeoutMs)}); still ${vm.state}`,
      );
    }
    return verdict("starting");
  }
  // Started, the agent unregistered, or registered and offline without having run a job.
  if (!agent) {
    const deadline = Math.min(
      vm.updatedAtMs === undefined ? Infinity : vm.updatedAtMs + input.agentTimeoutMs,
      vm.createdAtMs === undefined ? Infinity : vm.createdAtMs + input.startTimeoutMs + input.agentTimeoutMs,
    );
    if (now > deadline)
      return verdict("failed", "terminate", `its agent ${vm.agentName} never registered in the pool`);
    return verdict("registering");
  }
  const offlineSince = timeOf(agent.statusChangedOn) ?? timeOf(agent.createdOn) ?? vm.updatedAtMs ?? now;
  if (now - offlineSince > input.agentTimeoutMs) {
    return verdict(
      "failed",
      "terminate",
      `its agent ${agent.name} has been offline for ${seconds(now - offlineSince)} without running a job`,
    );
  }
  return verdict("registering");
}

/** Offline agents of the service's VMs that no live instance carries any more. */
function staleAgents(input: PlanInput, carried: Set<string>): Plan["staleAgents"] {
  const stale: Plan["staleAgents"] = [];
  for (const agent of input.agents) {
    if (isPlaceholderName(agent.name) || !agent.name.toLowerCase().startsWith("anka-")) continue;
    if (!hasCapability(agent, CLASS_CAPABILITY) || carried.has(agent.name.toLowerCase())) continue;
    if (agent.status === "online" || agent.assignedRequest) continue;
    if (agent.lastCompletedRequest) {
      stale.push({ agent, reason: "it ran its one job and its VM is gone" });
      continue;
    }
    const since = timeOf(agent.statusChangedOn) ?? timeOf(agent.createdOn);
    if (since !== undefined && input.now - since > input.agentTimeoutMs)
      stale.push({ agent, reason: `offline for ${seconds(input.now - since)} and its VM is gone` });
  }
  return stale;
}

function placeholderChanges(input: PlanInput): PlaceholderChanges {
  const changes: PlaceholderChanges = { add: [], update: [], remove: [] };
  const wanted = new Map(
    input.classes.map((entry) => [placeholderName(entry.config.name).toLowerCase(), entry]),
  );
  const present = new Set<string>();
  for (const agent of input.agents) {
    if (!isPlaceholderName(agent.name)) continue;
    const key = agent.name.toLowerCase();
    const entry = wanted.get(key);
    if (!entry) {
      // Only ours: a placeholder carries the class capability.
      if (hasCapability(agent, CLASS_CAPABILITY)) changes.remove.push(agent);
      continue;
    }
    present.add(key);
    if (entry.ready && !sameCapabilities(withoutLease(agent.userCapabilities), entry.capabilities))
      changes.update.push({ className: entry.config.name, agent, capabilities: entry.capabilities });
  }
  for (const [key, entry] of wanted) {
    if (!present.has(key))
      changes.add.push({ className: entry.config.name, capabilities: entry.capabilities });
  }
  return changes;
}

export function hasCapability(agent: Agent, name: string): boolean {
  const wanted = name.toLowerCase();
  return [...Object.keys(agent.systemCapabilities), ...Object.keys(agent.userCapabilities)].some(
    (key) => key.toLowerCase() === wanted,
  );
}

function oldestQueueTime(jobs: JobRequest[] | undefined): number {
  let oldest = Infinity;
  for (const job of jobs ?? []) oldest = Math.min(oldest, timeOf(job.queueTime) ?? Infinity);
  return oldest;
}

/** RFC 3339 with up to nanoseconds (the controller's `cr_time`) or ISO; undefined when unreadable. */
export function timeOf(text: string | undefined): number | undefined {
  if (!text) return undefined;
  // Date.parse keeps milliseconds only: cut longer fractions, which some engines refuse.
  const ms = Date.parse(text.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isFinite(ms) ? ms : undefined;
}

function seconds(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 100) / 10} s`;
}
