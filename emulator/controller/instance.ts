// One emulated instance: its mutable record and the JSON the API shows for it (reference §4.1, §4.2).
import type {
  InstanceListEntry,
  InstanceObject,
  InstanceState,
  MetadataValue,
  ResetVmInfo,
  StartupScriptResult,
  VmInfo,
} from "./api-shapes.ts";
import type { NodeState, Placement } from "./scheduler.ts";
import type { StartRequest } from "./start-request.ts";

export interface Instance extends Placement {
  readonly id: string;
  readonly request: StartRequest;
  readonly inflightReqId: string;
  readonly crTime: string;
  state: InstanceState;
  ts: string;
  message?: string;
  progress: number;
  /** The node holding this instance's slot; the API shows node_id only once vminfo exists. */
  node?: NodeState;
  vminfo?: VmInfo;
  /** Errored on a controller before 1.49: the API shows a reset vminfo (the VM itself is unchanged). */
  vminfoReset?: boolean;
  /** Deleted before it started: stays Terminating, then vanishes without ever being Terminated. */
  neverStarted?: boolean;
  startupScript?: StartupScriptResult;
  name?: string;
  externalId?: string;
  metadata?: Record<string, MetadataValue>;
  /** Caught by a "stuck-scheduling" fault: never queued for a slot. */
  stuckInScheduling: boolean;
  /** Aborted when the VM is killed (DELETE or emulator close): stops the startup script. */
  readonly kill: AbortController;
  /** Pending phase timers, all cleared when the instance is terminated. */
  readonly timers: Set<NodeJS.Timeout>;
}

export const isGoingAway = (state: InstanceState) => state === "Terminating" || state === "Terminated";

/**
 * Reference §4.1 omission rule: "All fields but vmid, group_id, instance_state, anka_registry, ts,
 * cr_time, progress, vlan, usb_device are omitted if empty." Every recorded answer (2019, 2022,
 * 1.41, 1.44) omits an empty group_id and usb_device all the same: the recordings win.
 */
const ALWAYS_SHOWN: ReadonlySet<string> = new Set([
  "vmid",
  "instance_state",
  "anka_registry",
  "ts",
  "cr_time",
  "progress",
  "vlan",
]);

export function instanceView(instance: Instance, ankaRegistry: string): InstanceObject {
  const { template, version } = instance.request.resolved;
  // Key order follows the recorded fixtures.
  const view: InstanceObject = {
    instance_id: instance.id,
    instance_state: instance.state,
    message: instance.message,
    anka_registry: ankaRegistry,
    vmid: template.id,
    tag: version.tag,
    version: instance.request.requestedVersion,
    vminfo: instance.vminfo && instance.vminfoReset ? resetView(instance.vminfo) : instance.vminfo,
    node_id: instance.vminfo?.node_id,
    inflight_reqid: instance.inflightReqId,
    ts: instance.ts,
    cr_time: instance.crTime,
    progress: instance.progress,
    group_id: instance.request.groupId ?? "",
    name: instance.name,
    external_id: instance.externalId,
    metadata: instance.metadata,
    arch: template.arch,
    vlan: "",
    usb_device: "",
    startup_script: instance.startupScript,
  };
  const shown = Object.entries(view).filter(([key, value]) => ALWAYS_SHOWN.has(key) || !isEmpty(value));
  return structuredClone(Object.fromEntries(shown)) as InstanceObject;
}

function resetView(vminfo: VmInfo): ResetVmInfo {
  return {
    uuid: vminfo.uuid,
    status: "deleted",
    node_id: vminfo.node_id,
    port_forwarding: null,
    stop_date: vminfo.stop_date,
    timestamp: vminfo.timestamp,
  };
}

/** Reference §4.2: name and external_id are repeated at the wrapper level, null when unset. */
export function listEntry(instance: Instance, ankaRegistry: string): InstanceListEntry {
  return {
    external_id: instance.externalId ?? null,
    instance_id: instance.id,
    name: instance.name ?? null,
    vm: instanceView(instance, ankaRegistry),
  };
}

/** Go's omitempty notion of empty. */
function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === "" || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && Object.keys(value).length === 0;
}
