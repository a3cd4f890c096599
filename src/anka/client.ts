import { randomUUID } from "node:crypto";
import { withRetries } from "../net/retry.ts";
import { ControllerError, ControllerTimeoutError } from "./errors.ts";
import {
  parseGroups,
  parseInstance,
  parseInstanceList,
  parseStartedIds,
  parseStatus,
  parseTemplate,
  parseTemplateSummaries,
  type ControllerStatus,
  type Instance,
  type NodeGroup,
  type Template,
  type TemplateSummary,
} from "./model.ts";
import { ControllerTransport, type TransportOptions } from "./transport.ts";

export type ClientOptions = TransportOptions;

/** What a start request may carry (reference §3). Numbers go out as JSON numbers. */
export interface StartInstanceRequest {
  templateId: string;
  tag?: string;
  version?: number;
  count?: number;
  name?: string;
  externalId?: string;
  nodeId?: string;
  groupId?: string;
  priority?: number;
  /** Plain text; the client sends it base64-encoded as the API requires. */
  startupScript?: string;
  /** 0: after the VM network is up (default), 1: as soon as the VM boots. */
  startupScriptCondition?: 0 | 1;
  scriptMonitoring?: boolean;
  scriptTimeoutSeconds?: number;
  /** What the node does with the VM when a monitored script fails: 0 stop, 1 keep alive, 2 delete. */
  scriptFailHandler?: 0 | 1 | 2;
  metadata?: Record<string, string | number | boolean>;
  vcpu?: number;
  vramMb?: number;
}

export interface InstanceUpdate {
  name?: string;
  externalId?: string;
  metadata?: Record<string, string | number | boolean>;
}

/**
 * Metadata key holding a random token per start request. After an ambiguous failure (the
 * connection dropped after the controller may have acted) the client looks for instances carrying
 * this token before trying again, so one request never yields two VMs and never adopts a VM
 * another run started with the same external_id.
 */
export const START_TOKEN_METADATA_KEY = "anka_azdo_start_token";

/** What a start request yielded, and whether a late duplicate is possible. */
export interface StartReceipt {
  ids: string[];
  /** The random token in the instances' metadata ({@link START_TOKEN_METADATA_KEY}). */
  token: string;
  /**
   * True when a start request was sent again after an earlier attempt failed ambiguously and did
   * not show up: a controller that is merely slow may still create that attempt's instance later.
   * The caller looks for instances with `token` when it cleans up (see findInstancesByStartToken).
   */
  mayHaveDuplicates: boolean;
}

/** The controller's startup_script field: base64 of the script text. */
export function encodeStartupScript(script: string): string {
  return Buffer.from(script, "utf8").toString("base64");
}

/** Typed endpoints of the Anka Build Cloud Controller REST API. */
export class AnkaClient {
  readonly transport: ControllerTransport;

  constructor(options: ClientOptions) {
    this.transport = new ControllerTransport(options);
  }

  get url(): string {
    return this.transport.baseUrl.origin;
  }

  async status(): Promise<ControllerStatus> {
    return this.get("/api/v1/status", {}, parseStatus);
  }

  async listTemplates(): Promise<TemplateSummary[]> {
    return this.get("/api/v1/registry/vm", {}, parseTemplateSummaries);
  }

  /** One template with its versions and tags. */
  async getTemplate(templateId: string): Promise<Template> {
    return this.get("/api/v1/registry/vm", { id: templateId }, parseTemplate);
  }

  async getInstance(instanceId: string): Promise<Instance> {
    const instance = await this.get("/api/v1/vm", { id: instanceId }, (body) => parseInstance(body));
    return { ...instance, id: instance.id || instanceId };
  }

  async listInstances(): Promise<Instance[]> {
    return this.get("/api/v1/vm", {}, parseInstanceList);
  }

  /** The API has no server-side filter (reference §4.2): list and match exactly, as every peer does. */
  async findInstancesByExternalId(externalId: string): Promise<Instance[]> {
    return (await this.listInstances()).filter((instance) => instance.externalId === externalId);
  }

  async listGroups(): Promise<NodeGroup[]> {
    return this.get("/api/v1/group", {}, parseGroups);
  }

  async updateInstance(instanceId: string, update: InstanceUpdate): Promise<void> {
    const body: Record<string, unknown> = {};
    if (update.name !== undefined) body.name = update.name;
    if (update.externalId !== undefined) body.external_id = update.externalId;
    if (update.metadata !== undefined) body.metadata = update.metadata;
    await this.transport.call("PUT", "/api/v1/vm", { query: { id: instanceId }, body, idempotent: true });
  }

  /** DELETE with a JSON body (reference §1). Terminating an already terminated instance is OK. */
  async terminateInstance(instanceId: string): Promise<void> {
    await this.transport.call("DELETE", "/api/v1/vm", { body: { id: instanceId }, idempotent: true });
  }

  async startInstance(request: StartInstanceRequest): Promise<string> {
    const ids = await this.startInstances({ ...request, count: 1 });
    return ids[0] as string;
  }

  /**
   * Starts `count` instances. Never retried blindly: after an ambiguous failure it first looks
   * for instances this very request created (by its start token), and only tries again when
   * there are none.
   */
  async startInstances(request: StartInstanceRequest): Promise<string[]> {
    return (await this.startInstancesWithReceipt(request)).ids;
  }

  /** {@link startInstances}, telling also the start token and whether a late duplicate is possible. */
  async startInstancesWithReceipt(request: StartInstanceRequest): Promise<StartReceipt> {
    const token = randomUUID();
    const body = startBody(request, token);
    const adopt = async () => (await this.findInstancesByStartToken(token)).map((instance) => instance.id);
    let lastFailureAmbiguous = false;
    let lastFailureTimedOut = false;
    let mayHaveDuplicates = false;
    const attempt = async (): Promise<string[]> => {
      if (lastFailureAmbiguous) {
        // A timed-out request may still be in the controller's hands: give it as long again to
        // show up before asking a second time, so that a slow controller does not make two VMs.
        const ids = lastFailureTimedOut ? await this.awaitStartToken(token) : await adopt();
        if (ids.length > 0) return ids;
        mayHaveDuplicates = true;
      }
      try {
        const answer = await this.transport.call("POST", "/api/v1/vm", { body, idempotent: false });
        return this.parse("POST", "/api/v1/vm", answer, parseStartedIds);
      } catch (error) {
        lastFailureAmbiguous = error instanceof ControllerError && error.ambiguous;
        lastFailureTimedOut = error instanceof ControllerTimeoutError;
        throw error;
      }
    };
    try {
      const ids = await withRetries(attempt, {
        policy: this.transport.retryPolicy,
        sleep: (ms) => this.transport.clock.sleep(ms),
        isRetryable: (error) => error instanceof ControllerError && error.retryable,
      });
      return { ids, token, mayHaveDuplicates };
    } catch (error) {
      // The last attempt may have created the instance too: hand it back rather than orphan it.
      const ids = lastFailureAmbiguous ? await adopt().catch(() => []) : [];
      if (ids.length > 0) return { ids, token, mayHaveDuplicates };
      throw error;
    }
  }

  /** Instances started by the request that carried this start token ({@link START_TOKEN_METADATA_KEY}). */
  async findInstancesByStartToken(token: string): Promise<Instance[]> {
    return (await this.listInstances()).filter(
      (instance) => instance.metadata?.[START_TOKEN_METADATA_KEY] === token,
    );
  }

  /** Looks for the token's instances for up to one request timeout. */
  private async awaitStartToken(token: string): Promise<string[]> {
    const { clock, timeoutMs } = this.transport;
    const deadline = clock.now() + timeoutMs;
    for (;;) {
      const ids = (await this.findInstancesByStartToken(token)).map((instance) => instance.id);
      if (ids.length > 0 || clock.now() >= deadline) return ids;
      await clock.sleep(Math.min(Math.max(100, timeoutMs / 5), deadline - clock.now()));
    }
  }

  close(): void {
    this.transport.close();
  }

  private async get<T>(path: string, query: Record<string, string>, parse: (body: unknown) => T): Promise<T> {
    return this.parse(
      "GET",
      path,
      await this.transport.call("GET", path, { query, idempotent: true }),
      parse,
    );
  }

  private parse<T>(method: string, path: string, body: unknown, parse: (body: unknown) => T): T {
    try {
      return parse(body);
    } catch (problem) {
      throw this.transport.shapeError(method, path, problem);
    }
  }
}

function startBody(request: StartInstanceRequest, token: string): Record<string, unknown> {
  const body: Record<string, unknown> = { vmid: request.templateId };
  const set = (key: string, value: unknown) => {
    if (value !== undefined && value !== "") body[key] = value;
  };
  set("tag", request.tag);
  set("version", request.version);
  set("count", request.count);
  set("name", request.name);
  set("external_id", request.externalId);
  set("node_id", request.nodeId);
  set("group_id", request.groupId);
  set("priority", request.priority);
  if (request.startupScript !== undefined) body.startup_script = encodeStartupScript(request.startupScript);
  set("startup_script_condition", request.startupScriptCondition);
  set("script_monitoring", request.scriptMonitoring);
  set("script_timeout", request.scriptTimeoutSeconds);
  set("script_fail_handler", request.scriptFailHandler);
  set("vcpu", request.vcpu);
  set("vram", request.vramMb);
  body.metadata = { ...request.metadata, [START_TOKEN_METADATA_KEY]: token };
  return body;
}
