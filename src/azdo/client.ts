import { realClock, type Clock } from "../clock.ts";
import type { ProxySettings } from "../net/proxy.ts";
import { HttpSender, RequestTimeout, type RawResponse, type TlsOptions } from "../net/http.ts";
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy } from "../net/retry.ts";
import { AzureDevOpsError, AzureDevOpsPermissionError, PoolNotFoundError } from "./errors.ts";
import type { Agent, AgentPackage, AgentPlatform, AgentPool, JobRequest, NewAgent } from "./model.ts";

export interface AzureDevOpsClientOptions {
  /** Organization (or collection) URL, e.g. https://dev.azure.com/contoso */
  organizationUrl: string;
  /** PAT with scope Agent Pools (read & manage). */
  pat: string;
  tls?: TlsOptions;
  /** Proxy for requests to this server; absent: direct. */
  proxy?: ProxySettings;
  timeoutMs?: number;
  retry?: RetryPolicy;
  clock?: Clock;
}

const API_VERSION = "7.1";
/** Job requests are not in the public REST spec; the SDKs and Anklet use this version (reference B4). */
const JOB_REQUESTS_API_VERSION = "7.1-preview.1";

export interface ListAgentsOptions {
  /** Each agent's current job request, if any. */
  includeAssignedRequest?: boolean;
  /** Each agent's last finished job request, if any. */
  includeLastCompletedRequest?: boolean;
}

/**
 * Azure DevOps agent-pool REST (reference azure-devops.md §6.5): just the calls the tasks need,
 * on the same HTTP layer and retry policy as the controller client.
 */
export class AzureDevOpsClient {
  readonly organizationUrl: string;
  private readonly base: URL;
  private readonly sender: HttpSender;
  private readonly authorization: string;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly clock: Clock;

  constructor(options: AzureDevOpsClientOptions) {
    this.base = parseOrganizationUrl(options.organizationUrl);
    this.organizationUrl = this.base.toString().replace(/\/$/, "");
    this.sender = new HttpSender(this.base, options.tls, options.proxy);
    this.authorization = `Basic ${Buffer.from(`:${options.pat}`).toString("base64")}`;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.clock = options.clock ?? realClock;
  }

  /** The Basic header this client sends; the tasks mask it as a derived secret. */
  get authorizationHeader(): string {
    return this.authorization;
  }

  async findPool(name: string): Promise<AgentPool> {
    const pools = await this.listPools(name);
    const pool = pools.find((p) => p.name.toLowerCase() === name.toLowerCase());
    if (pool) return pool;
    const all = await this.listPools().catch(() => []);
    throw new PoolNotFoundError(
      name,
      this.organizationUrl,
      all.filter((p) => !p.isHosted).map((p) => p.name),
    );
  }

  async listPools(name?: string): Promise<AgentPool[]> {
    const query: Record<string, string> = name === undefined ? {} : { poolName: name };
    const body = await this.request("GET", "_apis/distributedtask/pools", query, { pool: name });
    return valuesOf(body) as AgentPool[];
  }

  async findAgents(pool: AgentPool, agentName: string): Promise<Agent[]> {
    const body = await this.request(
      "GET",
      `_apis/distributedtask/pools/${pool.id}/agents`,
      { agentName, includeCapabilities: "true" },
      { pool: pool.name },
    );
    return (valuesOf(body) as Partial<Agent>[])
      .map(normaliseAgent)
      .filter((agent) => agent.name === agentName);
  }

  async findAgent(pool: AgentPool, agentName: string): Promise<Agent | undefined> {
    return (await this.findAgents(pool, agentName))[0];
  }

  async listAgents(pool: AgentPool, options: ListAgentsOptions = {}): Promise<Agent[]> {
    const query: Record<string, string> = { includeCapabilities: "true" };
    if (options.includeAssignedRequest) query.includeAssignedRequest = "true";
    if (options.includeLastCompletedRequest) query.includeLastCompletedRequest = "true";
    const body = await this.request("GET", `_apis/distributedtask/pools/${pool.id}/agents`, query, {
      pool: pool.name,
    });
    return (valuesOf(body) as Partial<Agent>[]).map(normaliseAgent);
  }

  /**
   * The pool's job requests (reference B4). `unfinishedOnly` (the default) asks for queued and
   * running ones only (`completedRequestCount=0`). Demands come back as strings whatever form the
   * service used.
   */
  async listJobRequests(pool: AgentPool, options: { unfinishedOnly?: boolean } = {}): Promise<JobRequest[]> {
    const query: Record<string, string> =
      options.unfinishedOnly === false ? {} : { completedRequestCount: "0" };
    const body = await this.request("GET", `_apis/distributedtask/pools/${pool.id}/jobrequests`, query, {
      pool: pool.name,
      apiVersion: JOB_REQUESTS_API_VERSION,
    });
    return valuesOf(body).map(normaliseJobRequest);
  }

  /**
   * Registers an agent record by REST, as `config.sh` does (reference azure-pipelines-agent.md §2
   * step 9). Nothing connects as this agent unless someone holds the private key of `publicKey`.
   */
  async addAgent(pool: AgentPool, agent: NewAgent): Promise<Agent> {
    const body = await this.request(
      "POST",
      `_apis/distributedtask/pools/${pool.id}/agents`,
      {},
      {
        pool: pool.name,
        manage: true,
        body: {
          name: agent.name,
          version: agent.version,
          osDescription: agent.osDescription ?? "",
          enabled: agent.enabled ?? true,
          maxParallelism: 1,
          provisioningState: "Provisioned",
          authorization: { publicKey: agent.publicKey },
          systemCapabilities: agent.systemCapabilities ?? {},
          userCapabilities: agent.userCapabilities ?? {},
        },
      },
    );
    return normaliseAgent((body ?? {}) as Partial<Agent>);
  }

  /** Replaces an agent's user capabilities (reference B6: `PUT …/agents/{id}/usercapabilities`). */
  async updateAgentUserCapabilities(
    pool: AgentPool,
    agentId: number,
    capabilities: Record<string, string>,
  ): Promise<Agent> {
    const body = await this.request(
      "PUT",
      `_apis/distributedtask/pools/${pool.id}/agents/${agentId}/usercapabilities`,
      {},
      { pool: pool.name, manage: true, body: capabilities },
    );
    return normaliseAgent((body ?? {}) as Partial<Agent>);
  }

  /** Removes an agent record. Returns false when it was already gone. */
  async deleteAgent(pool: AgentPool, agentId: number): Promise<boolean> {
    try {
      await this.request(
        "DELETE",
        `_apis/distributedtask/pools/${pool.id}/agents/${agentId}`,
        {},
        { pool: pool.name, manage: true },
      );
      return true;
    } catch (error) {
      if (error instanceof AzureDevOpsError && error.httpStatus === 404) return false;
      throw error;
    }
  }

  /** The newest agent package the organization offers for a platform (reference azure-pipelines-agent.md §7). */
  async latestAgentPackage(platform: AgentPlatform): Promise<AgentPackage> {
    const body = await this.request(
      "GET",
      "_apis/distributedtask/packages/agent",
      { platform, $top: "1" },
      {},
    );
    const packages = valuesOf(body) as {
      platform?: string;
      version?: unknown;
      downloadUrl?: string;
      hashValue?: string;
      filename?: string;
    }[];
    const found = packages.find((p) => p.downloadUrl && (p.platform ?? platform) === platform);
    if (!found?.downloadUrl) {
      throw new AzureDevOpsError(
        `${this.organizationUrl} offers no agent package for ${platform}. Set the connection's agent download URL to a package for ${platform}.`,
        undefined,
        false,
      );
    }
    return {
      platform,
      version: versionText(found.version),
      downloadUrl: found.downloadUrl,
      hashValue: found.hashValue,
      filename: found.filename,
    };
  }

  close(): void {
    this.sender.close();
  }

  /** One REST call with this client's credential, retries and error mapping (also registration.ts's). */
  async request(
    method: string,
    path: string,
    query: Record<string, string>,
    context: { pool?: string; manage?: boolean; apiVersion?: string; body?: unknown },
  ): Promise<unknown> {
    const url = new URL(path, `${this.organizationUrl}/`);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    url.searchParams.set("api-version", context.apiVersion ?? API_VERSION);
    const body = context.body === undefined ? undefined : JSON.stringify(context.body);
    const where = `${method} ${url.origin}${url.pathname}`;
    return withRetries(
      async () => {
        let response: RawResponse;
        try {
          response = await this.sender.send({
            method,
            url,
            headers: {
              authorization: this.authorization,
              accept: "application/json",
              "user-agent": "anka-azure-pipelines",
              ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            body,
            timeoutMs: this.timeoutMs,
          });
        } catch (error) {
          const timedOut = error instanceof RequestTimeout;
          throw new AzureDevOpsError(
            timedOut
              ? `Azure DevOps did not answer ${where} within ${this.timeoutMs} ms`
              : `Cannot reach Azure DevOps (${where}): ${(error as Error).message}`,
            undefined,
            true,
            { cause: error },
          );
        }
        return this.readAnswer(response, where, context);
      },
      {
        policy: this.retry,
        sleep: (ms) => this.clock.sleep(ms),
        isRetryable: (error) => error instanceof AzureDevOpsError && error.retryable,
      },
    );
  }

  private readAnswer(
    response: RawResponse,
    where: string,
    context: { pool?: string; manage?: boolean },
  ): unknown {
    const { status, text } = response;
    const json = parseJson(text);
    const serverMessage = (json as { message?: unknown } | undefined)?.message;
    const detail = typeof serverMessage === "string" ? `: ${serverMessage}` : "";
    const pool = context.pool ? `pool "${context.pool}"` : "agent pools";
    if (status === 401 || (status === 203 && json === undefined)) {
      // 203 with a sign-in page is how Azure DevOps answers some calls with a bad PAT.
      throw new AzureDevOpsPermissionError(
        `Azure DevOps (${this.organizationUrl}) rejected the PAT (HTTP ${status}): it is wrong, expired or revoked. ` +
          "Create a PAT with scope Agent Pools (read & manage) and put it in the service connection.",
        status,
      );
    }
    if (status === 403) {
      throw new AzureDevOpsPermissionError(
        `The PAT cannot ${context.manage ? "manage" : "read"} ${pool} in ${this.organizationUrl}${detail}. ` +
          "It needs scope Agent Pools (read & manage), and its owner needs the Administrator role on the pool.",
        status,
      );
    }
    if (status >= 200 && status < 300) {
      if (status === 204 || text.trim() === "") return undefined;
      if (json === undefined)
        throw new AzureDevOpsError(
          `Azure DevOps answered ${where} with something that is not JSON (HTTP ${status}): ${excerpt(text)}`,
          status,
          false,
        );
      return json;
    }
    throw new AzureDevOpsError(
      `Azure DevOps refused ${where} (HTTP ${status})${detail || (text ? `: ${excerpt(text)}` : "")}`,
      status,
      status >= 500 || status === 429,
    );
  }
}

function parseOrganizationUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(
      `The Azure DevOps URL ${JSON.stringify(text)} is not a URL. Use the organization URL, e.g. https://dev.azure.com/contoso`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`The Azure DevOps URL ${JSON.stringify(text)} must start with https://`);
  }
  url.search = "";
  url.hash = "";
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

function parseJson(text: string): unknown {
  try {
    return text.trim() === "" ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function valuesOf(body: unknown): unknown[] {
  const value = (body as { value?: unknown } | undefined)?.value;
  return Array.isArray(value) ? value : [];
}

function normaliseAgent(raw: Partial<Agent>): Agent {
  return {
    id: Number(raw.id),
    name: String(raw.name ?? ""),
    status: String(raw.status ?? "offline").toLowerCase(),
    enabled: raw.enabled,
    version: raw.version,
    createdOn: raw.createdOn,
    systemCapabilities: raw.systemCapabilities ?? {},
    userCapabilities: raw.userCapabilities ?? {},
    assignedRequest: raw.assignedRequest ?? undefined,
    lastCompletedRequest: raw.lastCompletedRequest ?? undefined,
    statusChangedOn: raw.statusChangedOn,
  };
}

function normaliseJobRequest(value: unknown): JobRequest {
  const raw = (value ?? {}) as Record<string, unknown>;
  const text = (key: string) => (typeof raw[key] === "string" ? (raw[key] as string) : undefined);
  const reference = (item: unknown) => {
    const ref = (item ?? {}) as { id?: unknown; name?: unknown };
    return { id: Number(ref.id), name: String(ref.name ?? "") };
  };
  const demands = Array.isArray(raw.demands) ? raw.demands.map(demandText).filter((d) => d !== "") : [];
  return {
    requestId: Number(raw.requestId),
    queueTime: text("queueTime"),
    assignTime: text("assignTime"),
    receiveTime: text("receiveTime"),
    finishTime: text("finishTime"),
    result: text("result"),
    demands,
    reservedAgent: raw.reservedAgent ? reference(raw.reservedAgent) : undefined,
    jobId: text("jobId"),
    jobName: text("jobName"),
    planId: text("planId"),
    matchedAgents: Array.isArray(raw.matchedAgents) ? raw.matchedAgents.map(reference) : undefined,
    owner: raw.owner as JobRequest["owner"],
    definition: raw.definition as JobRequest["definition"],
  };
}

/** Demands arrive as strings or as `{name, value}` objects (reference B4: parse both). */
function demandText(demand: unknown): string {
  if (typeof demand === "string") return demand.trim();
  if (demand && typeof demand === "object" && "name" in demand) {
    const { name, value } = demand as { name: unknown; value?: unknown };
    return value === undefined || value === null || value === ""
      ? String(name)
      : `${String(name)} -equals ${String(value)}`;
  }
  return "";
}

/** Package versions come as `{major, minor, patch}` objects (reference azure-pipelines-agent.md §7). */
function versionText(version: unknown): string {
  if (typeof version === "string") return version;
  const v = version as { major?: number; minor?: number; patch?: number } | undefined;
  return v ? `${v.major ?? 0}.${v.minor ?? 0}.${v.patch ?? 0}` : "unknown";
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return JSON.stringify(flat.length > 120 ? `${flat.slice(0, 120)}…` : flat);
}
