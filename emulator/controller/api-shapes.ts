// JSON shapes the emulator answers with, named after the reference sections that define them.

/** Reference §5. */
export type InstanceState =
  | "Scheduling"
  | "Pulling"
  | "Started"
  | "Stopping"
  | "Stopped"
  | "Terminating"
  | "Terminated"
  | "Error"
  | "Pushing";

/** Reference §4.1 `vminfo`, with the fields and order of the recorded fixtures. */
export interface VmInfo {
  uuid: string;
  name: string;
  cpu_cores: number;
  ram: string;
  status: "running" | "stopped" | "deleted";
  node_id: string;
  host_ip: string;
  ip: string;
  vnc_port: number;
  vnc_connection_string: string;
  creation_date: string;
  stop_date: string;
  version: string;
  /** Rule names have been `Name`, `rule_name` and `name`; `name` since 1.43 (anka-controller-2026 §3.9). */
  port_forwarding: PortForwardingRule[];
  /** Since 1.44 (anka-controller-2026 §3.15). */
  start_date: string;
  /** The node's last report: an RFC3339 string, unlike a node's epoch `timestamp` (anka-controller-2026 §3.13). */
  timestamp: string;
}

export interface PortForwardingRule {
  guest_port: number;
  host_port: number;
  protocol: "tcp";
  name: string;
}

/**
 * vminfo of an errored instance before controller 1.49: "changes to `deleted` and resets a bunch of
 * other fields" (release notes 1.49.0). Veertu's Jenkins and TeamCity plugins crashed in 2025 on the
 * missing `name` and on `port_forwarding: null`, and still read `uuid` and `status` as always present.
 * Which other fields go is not documented: we keep the ids and drop what describes the running VM.
 */
export type ResetVmInfo = Partial<Omit<VmInfo, "status" | "port_forwarding">> &
  Pick<VmInfo, "uuid" | "node_id" | "stop_date" | "timestamp"> & {
    status: "deleted";
    port_forwarding: null;
  };

/** Reference §4.1 and startup-scripts A3. */
export interface StartupScriptResult {
  return_code: number;
  did_timeout: boolean;
  stdout: string;
  stderr: string;
  /** Only when `anka run` itself failed; omitted when empty. */
  errors?: string[];
}

export type MetadataValue = string | number | boolean;

/** Reference §4.1: the body of GET /api/v1/vm?id=. Optional fields are omitted when empty. */
export interface InstanceObject {
  instance_id: string;
  instance_state: InstanceState;
  message?: string;
  anka_registry: string;
  vmid: string;
  tag?: string;
  version?: number;
  vminfo?: VmInfo | ResetVmInfo;
  node_id?: string;
  inflight_reqid?: string;
  ts: string;
  cr_time: string;
  progress: number;
  group_id?: string;
  name?: string;
  external_id?: string;
  metadata?: Record<string, MetadataValue>;
  arch?: string;
  vlan: string;
  usb_device?: string;
  startup_script?: StartupScriptResult;
}

/** Reference §4.2: one element of GET /api/v1/vm. */
export interface InstanceListEntry {
  external_id: string | null;
  instance_id: string;
  name: string | null;
  vm: InstanceObject;
}
