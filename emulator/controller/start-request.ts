// Validates the body of POST /api/v1/vm (reference §3) into a StartRequest.
import type { MetadataValue } from "./api-shapes.ts";
import { decodeBase64LikeGo, illegalBase64Message } from "./go-base64.ts";
import { FieldReader, parseJsonObject } from "./json-fields.ts";
import type { Registry, ResolvedTemplate } from "./registry.ts";
import { badRequest } from "./reply.ts";

export type FailHandler = 0 | 1 | 2;

export interface StartupScriptRequest {
  /** Decoded text. */
  text: string;
  /** 0: after the network is up; 1: as soon as the VM boots. */
  condition: 0 | 1;
  monitoring: boolean;
  timeoutSec: number;
  /** What happens to the VM on failure: 0 stop, 1 keep alive, 2 delete. */
  failHandler: FailHandler;
}

export interface StartRequest {
  resolved: ResolvedTemplate;
  /** Shown on the instance only when the request named a version. */
  requestedVersion?: number;
  count: number;
  name?: string;
  externalId?: string;
  nodeId?: string;
  groupId?: string;
  /** Lower is more urgent. */
  priority: number;
  script?: StartupScriptRequest;
  metadata?: Record<string, MetadataValue>;
  vcpu?: number;
  vramMb?: number;
}

// Reference §3 defaults.
const DEFAULT_PRIORITY = 1000;
const DEFAULT_SCRIPT_TIMEOUT_SEC = 90;

export function parseStartRequest(raw: string, registry: Registry, lenientNumbers: boolean): StartRequest {
  const fields = new FieldReader(parseJsonObject(raw, "StartVmRequest"), "StartVmRequest", lenientNumbers);
  // Like a Go handler: decode every field first (type errors), then check values.
  const vmid = fields.string("vmid") ?? "";
  const tag = fields.string("tag");
  const version = fields.int("version");
  const count = fields.int("count") ?? 1;
  const name = fields.string("name");
  const externalId = fields.string("external_id");
  const nodeId = fields.string("node_id");
  const groupId = fields.string("group_id");
  const priority = fields.int("priority") ?? DEFAULT_PRIORITY;
  const encodedScript = fields.string("startup_script");
  const condition = fields.int("startup_script_condition") ?? 0;
  const monitoring = fields.bool("script_monitoring") ?? false;
  const timeoutSec = fields.int("script_timeout") ?? DEFAULT_SCRIPT_TIMEOUT_SEC;
  const failHandler = fields.int("script_fail_handler") ?? 0;
  const metadata = fields.metadata("metadata");
  const vcpu = fields.int("vcpu");
  const vramMb = fields.int("vram");

  if (count < 1) throw badRequest("count must be at least 1");
  if (priority < 1 || priority > 10000)
    throw badRequest(`priority must be between 1 and 10000, got ${priority}`);
  if (condition !== 0 && condition !== 1) throw badRequest("startup_script_condition must be 0 or 1");
  if (timeoutSec < 1) throw badRequest("script_timeout must be at least 1 second");
  if (failHandler !== 0 && failHandler !== 1 && failHandler !== 2) {
    throw badRequest("script_fail_handler must be 0, 1 or 2");
  }
  if (vcpu !== undefined && vcpu < 1) throw badRequest("vcpu must be at least 1");
  if (vramMb !== undefined && vramMb < 1) throw badRequest("vram must be at least 1 (MB)");

  let script: StartupScriptRequest | undefined;
  if (encodedScript) {
    const decoded = decodeBase64LikeGo(encodedScript);
    if (!decoded.ok) throw badRequest(illegalBase64Message(decoded.offset));
    script = { text: decoded.bytes.toString("utf8"), condition, monitoring, timeoutSec, failHandler };
  }

  return {
    resolved: registry.resolve(vmid, tag, version),
    requestedVersion: version,
    count,
    // Go's omitempty: an empty string is the same as no value.
    name: name || undefined,
    externalId: externalId || undefined,
    nodeId: nodeId || undefined,
    groupId: groupId || undefined,
    priority,
    script,
    metadata,
    vcpu,
    vramMb,
  };
}
