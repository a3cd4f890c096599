// Drives every instance through the controller's timeline (reference §5, startup-scripts A1-A2):
//   Scheduling (no vminfo) -> [Pulling, progress 0..1 -> Scheduling (>= 1.50) or still Pulling (older)]
//   -> vminfo (ip "" then set) -> startup script -> Started | Error;
//   DELETE -> Terminating -> Terminated -> gone, or, before the VM started, Terminating -> gone.
import { randomUUID } from "node:crypto";
import type { InstanceObject, InstanceState, MetadataValue, VmInfo } from "./api-shapes.ts";
import type { FaultBook } from "./faults.ts";
import { controllerId, rfc3339Nano, ZERO_TIME } from "./ids.ts";
import { instanceView, isGoingAway, listEntry, type Instance } from "./instance.ts";
import type { Registry } from "./registry.ts";
import { Scheduler, type NodeState } from "./scheduler.ts";
import type { EmulatorSeed } from "./seed.ts";
import type { FailHandler, StartRequest } from "./start-request.ts";
import { runStartupScript } from "./startup-script.ts";
import type { ScriptRunner, Timing } from "./types.ts";
import type { ControllerBehaviour } from "./versions.ts";

export interface FleetDependencies {
  seed: EmulatorSeed;
  timing: Timing;
  registry: Registry;
  faults: FaultBook;
  scriptRunner: ScriptRunner;
  nowMs: () => number;
  behaviour: ControllerBehaviour;
}

export interface InstanceUpdate {
  name?: string;
  externalId?: string;
  metadata?: Record<string, MetadataValue>;
}

/** startup-scripts A2: script_fail_handler acts on the VM on the node, not on the instance state. */
const VM_STATUS_AFTER_SCRIPT_FAILURE: Record<FailHandler, VmInfo["status"]> = {
  0: "stopped",
  1: "running",
  2: "deleted",
};
/** Evidenced controller text for a VM that is not running (reference §13). */
const DEFAULT_INSTANCE_ERROR = 'Unexpected VM state: "stopped"';
/** The message of the recorded Terminated fixture. */
const TERMINATED_MESSAGE = "instance terminated by controller";

export class InstanceFleet {
  readonly scheduler: Scheduler<Instance>;
  private readonly instances = new Map<string, Instance>();
  private readonly retentionTimers = new Set<NodeJS.Timeout>();
  private readonly ankaRegistry: string;
  private arrivals = 0;
  private leasedIps = 0;
  private closed = false;

  constructor(private readonly deps: FleetDependencies) {
    this.scheduler = new Scheduler(deps.seed.nodes, deps.seed.groups);
    this.ankaRegistry = deps.seed.controller.registry_address;
  }

  start(request: StartRequest): string[] {
    return Array.from({ length: request.count }, () => this.create(request).id);
  }

  get(id: string): Instance | undefined {
    return this.instances.get(id);
  }

  view(instance: Instance): InstanceObject {
    return instanceView(instance, this.ankaRegistry);
  }

  views(): InstanceObject[] {
    return [...this.instances.values()].map((instance) => this.view(instance));
  }

  listEntries() {
    return [...this.instances.values()].map((instance) => listEntry(instance, this.ankaRegistry));
  }

  liveCount(): number {
    return [...this.instances.values()].filter((instance) => !isGoingAway(instance.state)).length;
  }

  /** Instances whose VM exists on the node (for the node's usage figures). */
  vmsOn(node: NodeState): VmInfo[] {
    return [...this.instances.values()]
      .filter((instance) => instance.node === node && instance.vminfo !== undefined)
      .map((instance) => instance.vminfo as VmInfo);
  }

  /** Returns false when the instance is unknown. Like a Go handler, "" means "not given". */
  update(id: string, change: InstanceUpdate): boolean {
    const instance = this.instances.get(id);
    if (!instance) return false;
    if (change.name) instance.name = change.name;
    if (change.externalId) instance.externalId = change.externalId;
    if (change.metadata) instance.metadata = { ...instance.metadata, ...change.metadata };
    return true;
  }

  /** Returns false when the instance is unknown; a repeated DELETE is accepted (reference §12.4). */
  terminate(id: string): boolean {
    const instance = this.instances.get(id);
    if (!instance) return false;
    if (isGoingAway(instance.state)) return true;
    // anka-controller-2026 §3.3 (monitoring docs, 2023): "There is no Terminated state for an Instance
    // that hasn't started." Silent on Pulling: it has not started either, so it is treated the same.
    instance.neverStarted = instance.state === "Scheduling" || instance.state === "Pulling";
    this.cancelPhases(instance);
    this.scheduler.withdraw(instance);
    this.setState(instance, "Terminating");
    this.after(instance, this.deps.timing.terminatingMs, () => this.finishTermination(instance));
    return true;
  }

  close(): void {
    this.closed = true;
    for (const instance of this.instances.values()) this.cancelPhases(instance);
    for (const timer of this.retentionTimers) clearTimeout(timer);
    this.retentionTimers.clear();
  }

  private create(request: StartRequest): Instance {
    const now = rfc3339Nano(this.deps.nowMs());
    const instance: Instance = {
      id: controllerId(),
      seq: this.arrivals++,
      priority: request.priority,
      pinnedNodeId: request.nodeId,
      groupId: request.groupId,
      templateId: request.resolved.template.id,
      tag: request.resolved.version.tag,
      request,
      // startup-scripts A1: inflight_reqid is set from creation and stays on Started/Error.
      inflightReqId: controllerId(),
      crTime: now,
      ts: now,
      state: "Scheduling",
      progress: 0,
      name: request.name,
      externalId: request.externalId,
      metadata: request.metadata && { ...request.metadata },
      stuckInScheduling: this.deps.faults.takeStuckScheduling(request.externalId),
      kill: new AbortController(),
      timers: new Set(),
    };
    this.instances.set(instance.id, instance);
    if (!instance.stuckInScheduling) {
      this.after(instance, this.deps.timing.schedulingMs, () => {
        this.scheduler.enqueue(instance);
        this.dispatch();
      });
    }
    return instance;
  }

  private dispatch(): void {
    if (this.closed) return;
    for (const { request: instance, node } of this.scheduler.assignFreeSlots()) {
      instance.node = node;
      if (this.scheduler.hasTemplate(node, instance.templateId, instance.tag)) this.boot(instance);
      else this.pull(instance, node);
    }
  }

  private pull(instance: Instance, node: NodeState): void {
    const { pullMs, pullSteps } = this.deps.timing;
    const steps = Math.max(1, Math.floor(pullSteps));
    const stepMs = pullMs / steps;
    instance.progress = 0;
    this.setState(instance, "Pulling");
    const advance = (step: number) => {
      if (step < steps) {
        instance.progress = step / steps;
        this.after(instance, stepMs, () => advance(step + 1));
        return;
      }
      this.scheduler.cacheTemplate(node, instance.templateId, instance.tag);
      this.deps.registry.recordPull(instance.request.resolved.version);
      // reference §5: since controller 1.50 an instance shows Scheduling again after Pulling until it
      // has started; before, it stayed Pulling, its progress at 1.
      if (this.deps.behaviour.schedulingAfterPull) {
        instance.progress = 0;
        this.setState(instance, "Scheduling");
      } else instance.progress = 1;
      this.boot(instance);
    };
    this.after(instance, stepMs, () => advance(1));
  }

  private boot(instance: Instance): void {
    this.after(instance, this.deps.timing.bootMs, () => {
      instance.vminfo = this.createVmInfo(instance);
      const script = instance.request.script;
      // startup-scripts A1: only a monitored script holds the instance in Scheduling until it exits.
      if (!script?.monitoring) this.becomeStarted(instance);
      if (script?.condition === 1) this.runScript(instance);
      this.after(instance, this.deps.timing.ipDelayMs, () => this.networkUp(instance));
    });
  }

  private networkUp(instance: Instance): void {
    if (instance.vminfo) {
      instance.vminfo.ip = this.nextIp();
      instance.vminfo.timestamp = rfc3339Nano(this.deps.nowMs());
    }
    if (instance.request.script?.condition === 0) this.runScript(instance);
  }

  private runScript(instance: Instance): void {
    const script = instance.request.script;
    if (!script || instance.state === "Error") return;
    const result = runStartupScript(
      this.deps.scriptRunner,
      {
        instanceId: instance.id,
        script: script.text,
        externalId: instance.externalId,
        vmIp: instance.vminfo?.ip ?? "",
        timeoutSec: script.timeoutSec,
      },
      instance.kill.signal,
    );
    // Unmonitored: fire and forget; the exit code is ignored and no result is stored (reference §4.1).
    if (!script.monitoring) return;
    void result.then((outcome) => {
      // startup-scripts A2: a killed VM's script result is never applied.
      if (!outcome || isGoingAway(instance.state) || this.closed) return;
      instance.startupScript = outcome;
      if (outcome.errors) this.fail(instance, "Script execution failed", script.failHandler);
      else if (outcome.return_code === 0 && !outcome.did_timeout) this.becomeStarted(instance);
      else this.fail(instance, `startup script exit code ${outcome.return_code}`, script.failHandler);
    });
  }

  private becomeStarted(instance: Instance): void {
    const fault = this.deps.faults.takeInstanceError(instance.externalId);
    if (fault) {
      this.enterError(instance, fault.message ?? DEFAULT_INSTANCE_ERROR, true);
      return;
    }
    this.leavePull(instance);
    instance.message = this.deps.behaviour.startedMessage;
    this.setState(instance, "Started");
  }

  private fail(instance: Instance, message: string, failHandler: FailHandler): void {
    if (instance.vminfo) instance.vminfo.status = VM_STATUS_AFTER_SCRIPT_FAILURE[failHandler];
    this.enterError(instance, message, failHandler === 2);
  }

  /**
   * The Error instance keeps its slot until deleted. Before 1.49 its vminfo was reset when the VM
   * failed (release notes 1.49.0), yet the 2022 recording of a script error with the VM kept alive
   * still shows a full vminfo: so the reset is applied only where the VM itself is gone or broken
   * (an instance error, or a failed script whose handler deletes the VM).
   */
  private enterError(instance: Instance, message: string, vmGone: boolean): void {
    this.leavePull(instance);
    instance.message = message;
    instance.vminfoReset = vmGone && !this.deps.behaviour.errorKeepsVmInfo;
    this.setState(instance, "Error");
  }

  /** Older controllers leave `progress` at 1 after a pull (see ControllerBehaviour.progressResetAfterPull). */
  private leavePull(instance: Instance): void {
    if (this.deps.behaviour.progressResetAfterPull) instance.progress = 0;
  }

  private finishTermination(instance: Instance): void {
    if (!instance.neverStarted) this.setState(instance, "Terminated");
    // As the recorded Terminated fixture shows: no vminfo, node_id or script result, progress 0.
    instance.vminfo = undefined;
    instance.startupScript = undefined;
    instance.progress = 0;
    instance.message = TERMINATED_MESSAGE;
    if (instance.node) {
      this.scheduler.release(instance.node, this.deps.faults.isNodeStuck(instance.node.seed.node_id));
      instance.node = undefined;
      this.dispatch();
    }
    // reference §4.3: terminated instances stay listed for ANKA_INSTANCE_TIME_OUT, then vanish; so do
    // never-started ones, still Terminating ("for 1 minute until they disappear", the default time-out).
    const timer = setTimeout(() => {
      this.retentionTimers.delete(timer);
      this.instances.delete(instance.id);
    }, this.deps.timing.terminatedRetentionMs);
    this.retentionTimers.add(timer);
  }

  /**
   * The only way states change. Once Terminating, nothing but Terminated may follow: a late timer or
   * script result can never bring the instance back (reference §5, fix in controller 1.36.0).
   */
  private setState(instance: Instance, state: InstanceState): void {
    if (isGoingAway(instance.state) && !(instance.state === "Terminating" && state === "Terminated")) return;
    if (this.closed) return;
    instance.state = state;
    instance.ts = rfc3339Nano(this.deps.nowMs());
  }

  private after(instance: Instance, ms: number, phase: () => void): void {
    const timer = setTimeout(() => {
      instance.timers.delete(timer);
      phase();
    }, ms);
    instance.timers.add(timer);
  }

  private cancelPhases(instance: Instance): void {
    for (const timer of instance.timers) clearTimeout(timer);
    instance.timers.clear();
    instance.kill.abort(new Error("VM terminated"));
  }

  private createVmInfo(instance: Instance): VmInfo {
    const node = instance.node as NodeState;
    const { template, version } = instance.request.resolved;
    const { vcpu, vramMb } = instance.request;
    const hostIp = node.seed.ip_address;
    const now = this.deps.nowMs();
    return {
      uuid: randomUUID(),
      // Like mgmtManaged-monterey-1666889320540357000 in the fixtures: template name and a nanosecond stamp.
      name: `mgmtManaged-${template.name}-${Math.floor(now * 1000)}000`,
      cpu_cores: vcpu ?? version.cpu_cores,
      ram: vramMb === undefined ? version.ram : formatRam(vramMb),
      status: "running",
      node_id: node.seed.node_id,
      host_ip: hostIp,
      ip: "",
      vnc_port: 0,
      vnc_connection_string: `vnc://:@${hostIp}:0`,
      creation_date: version.creation_date,
      stop_date: ZERO_TIME,
      version: "",
      // The templates of the samples forward SSH; host ports count up from 10000 on each node.
      port_forwarding: [{ guest_port: 22, host_port: 10000 + node.heldSlots, protocol: "tcp", name: "ssh" }],
      start_date: `${new Date(now).toISOString().slice(0, 19)}Z`,
      timestamp: rfc3339Nano(now),
    };
  }

  /** Addresses from the nodes' vmnet range, like 192.168.64.19 in the fixtures. */
  private nextIp(): string {
    return `192.168.64.${2 + (this.leasedIps++ % 253)}`;
  }
}

function formatRam(megabytes: number): string {
  return megabytes % 1024 === 0 ? `${megabytes / 1024}G` : `${megabytes}M`;
}
