import { Reader, ShapeProblem, asArray, describe } from "./shape.ts";

/**
 * The typed view of the controller's answers (reference anka-controller-api.md §4-§6), in our
 * own camelCase. Fields the controller omits when empty are optional here; nothing else is
 * assumed present unless the reference says it always is.
 */

export type InstanceState =
  | "Scheduling"
  | "Pulling"
  | "Started"
  | "Stopping"
  | "Stopped"
  | "Terminating"
  | "Terminated"
  | "Error"
  | "Pushing"
  | (string & {});

export type StateClass = "pending" | "ready" | "failed";

const FAILED_STATES = new Set(["Error", "Stopping", "Stopped", "Terminating", "Terminated"]);

/**
 * The one place that decides what a state means to a waiting client. Unknown states (a newer
 * controller's, or "Deploying" seen in anka-mcp) count as pending: the waiter's timeout bounds them.
 */
export function classifyState(state: InstanceState): StateClass {
  if (state === "Started") return "ready";
  if (FAILED_STATES.has(state)) return "failed";
  return "pending";
}

/**
 * Whether nothing of the instance can run any more: Terminated, or Terminating without a VM. An
 * instance deleted before it started never becomes Terminated: it stays Terminating (for the
 * controller's ANKA_INSTANCE_TIME_OUT, 1 min by default) and then vanishes (Veertu's monitoring
 * docs, 2023); without vminfo it never had a VM that could still run a startup script.
 */
export function isTerminationComplete(instance: Instance): boolean {
  return (
    instance.state === "Terminated" || (instance.state === "Terminating" && instance.vminfo === undefined)
  );
}

export interface PortForwarding {
  guestPort: number;
  hostPort?: number;
  protocol?: string;
}

export interface VmInfo {
  uuid?: string;
  name?: string;
  status?: string;
  /** "" until the guest network is up (reference §4.1). */
  ip: string;
  hostIp?: string;
  nodeId?: string;
  cpuCores?: number;
  ram?: string;
  portForwarding: PortForwarding[];
}

export interface ScriptResult {
  returnCode: number;
  didTimeout: boolean;
  stdout: string;
  stderr: string;
  errors: string[];
}

export interface Instance {
  id: string;
  state: InstanceState;
  /** Error text; may linger on a Started instance (reference §4.1). */
  message?: string;
  templateId: string;
  tag?: string;
  version?: number;
  /** Absent while Scheduling and Pulling. */
  vminfo?: VmInfo;
  nodeId?: string;
  groupId?: string;
  name?: string;
  externalId?: string;
  metadata?: Record<string, unknown>;
  /** Pull progress 0..1. */
  progress: number;
  arch?: string;
  createdAt?: string;
  updatedAt?: string;
  /** Only with script_monitoring. */
  startupScript?: ScriptResult;
}

export interface TemplateVersion {
  number: number;
  tag: string;
  description?: string;
}

export interface TemplateSummary {
  id: string;
  name: string;
  arch?: string;
  size?: number;
}

export interface Template extends TemplateSummary {
  versions: TemplateVersion[];
}

export interface ControllerStatus {
  status: string;
  version?: string;
  registryAddress?: string;
  registryStatus?: string;
  license?: string;
}

export interface NodeGroup {
  id: string;
  name: string;
  description?: string;
  fallbackGroupId?: string;
}

export function parseInstance(value: unknown, path = "body"): Instance {
  const r = Reader.of(value, path);
  // Older controllers omit instance_id in GET ?id= answers (reference §4.1); callers that know the id pass it on.
  const vminfo = r.optionalObject("vminfo");
  const script = r.optionalObject("startup_script");
  const metadata = r.optionalObject("metadata");
  return {
    id: r.optionalString("instance_id") ?? "",
    state: r.string("instance_state"),
    message: r.optionalString("message") || undefined,
    templateId: r.optionalString("vmid") ?? "",
    tag: r.optionalString("tag") || undefined,
    version: r.optionalNumber("version"),
    vminfo: vminfo && parseVmInfo(vminfo),
    nodeId: r.optionalString("node_id") || undefined,
    groupId: r.optionalString("group_id") || undefined,
    name: r.optionalString("name") || undefined,
    externalId: r.optionalString("external_id") || undefined,
    metadata: metadata && (r.raw("metadata") as Record<string, unknown>),
    progress: r.optionalNumber("progress") ?? 0,
    arch: r.optionalString("arch") || undefined,
    createdAt: r.optionalString("cr_time"),
    updatedAt: r.optionalString("ts"),
    startupScript: script && parseScriptResult(script),
  };
}

function parseVmInfo(r: Reader): VmInfo {
  return {
    uuid: r.optionalString("uuid"),
    name: r.optionalString("name"),
    status: r.optionalString("status"),
    ip: r.optionalString("ip") ?? "",
    hostIp: r.optionalString("host_ip") || undefined,
    nodeId: r.optionalString("node_id") || undefined,
    cpuCores: r.optionalNumber("cpu_cores"),
    ram: r.optionalString("ram"),
    // The rule's name key has been `name`, `Name` and `rule_name` across versions: keep only what is stable.
    portForwarding: (r.optionalArray("port_forwarding") ?? []).map(({ value, path }) => {
      const rule = Reader.of(value, path);
      return {
        guestPort: numberish(rule.raw("guest_port"), `${path}.guest_port`),
        hostPort:
          rule.raw("host_port") === undefined
            ? undefined
            : numberish(rule.raw("host_port"), `${path}.host_port`),
        protocol: rule.optionalString("protocol"),
      };
    }),
  };
}

/** Port numbers are ints in vminfo but strings in port_forwarding_override (reference §3): accept both. */
function numberish(value: unknown, path: string): number {
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof number === "number" && Number.isFinite(number)) return number;
  throw new ShapeProblem(`${path}: expected a number, got ${describe(value)}`);
}

function parseScriptResult(r: Reader): ScriptResult {
  return {
    returnCode: r.optionalNumber("return_code") ?? 0,
    didTimeout: r.optionalBoolean("did_timeout") ?? false,
    stdout: r.optionalString("stdout") ?? "",
    stderr: r.optionalString("stderr") ?? "",
    errors: (r.optionalArray("errors") ?? []).map(({ value }) => String(value)),
  };
}

/** `GET /api/v1/vm`: wrappers `{instance_id, external_id|null, name|null, vm}` (reference §4.2). */
export function parseInstanceList(value: unknown): Instance[] {
  return asArray(value, "body").map((item, index) => {
    const path = `body[${index}]`;
    const wrapper = Reader.of(item, path);
    const instance = parseInstance(wrapper.raw("vm") ?? {}, `${path}.vm`);
    return {
      ...instance,
      id: instance.id || wrapper.string("instance_id"),
      externalId: instance.externalId ?? (wrapper.optionalString("external_id") || undefined),
      name: instance.name ?? (wrapper.optionalString("name") || undefined),
    };
  });
}

/** `POST /api/v1/vm`: an array of instance ids, one per `count`. */
export function parseStartedIds(value: unknown): string[] {
  const ids = asArray(value, "body").map((id, index) => {
    if (typeof id !== "string" || id === "")
      throw new ShapeProblem(`body[${index}]: expected an instance id, got ${describe(id)}`);
    return id;
  });
  if (ids.length === 0)
    throw new ShapeProblem("body: the controller accepted the start but returned no instance id");
  return ids;
}

export function parseTemplateSummaries(value: unknown): TemplateSummary[] {
  return asArray(value, "body").map((item, index) => parseTemplateSummary(Reader.of(item, `body[${index}]`)));
}

function parseTemplateSummary(r: Reader): TemplateSummary {
  return {
    id: r.string("id"),
    name: r.string("name"),
    arch: r.optionalString("arch") || undefined,
    size: r.optionalNumber("size"),
  };
}

export function parseTemplate(value: unknown): Template {
  const r = Reader.of(value, "body");
  return {
    ...parseTemplateSummary(r),
    versions: (r.optionalArray("versions") ?? []).map(({ value: item, path }) => {
      const v = Reader.of(item, path);
      return {
        number: v.optionalNumber("number") ?? 0,
        tag: v.string("tag"),
        description: v.optionalString("description") || undefined,
      };
    }),
  };
}

/** "Latest" is the version with the highest number (reference §6). */
export function latestVersion(template: Template): TemplateVersion | undefined {
  return template.versions.reduce<TemplateVersion | undefined>(
    (best, version) => (best === undefined || version.number > best.number ? version : best),
    undefined,
  );
}

export function parseStatus(value: unknown): ControllerStatus {
  const r = Reader.of(value, "body");
  return {
    status: r.string("status"),
    version: r.optionalString("version"),
    registryAddress: r.optionalString("registry_address") || undefined,
    registryStatus: r.optionalString("registry_status") || undefined,
    license: r.optionalString("license") || undefined,
  };
}

export function parseGroups(value: unknown): NodeGroup[] {
  return asArray(value ?? [], "body").map((item, index) => {
    const r = Reader.of(item, `body[${index}]`);
    return {
      id: r.string("id"),
      name: r.string("name"),
      description: r.optionalString("description") || undefined,
      fallbackGroupId: r.optionalString("fallback_group_id") || undefined,
    };
  });
}
