import { realClock, type Clock } from "../clock.ts";
import type { ProxySettings } from "../net/proxy.ts";
import { HttpSender, RequestTimeout, type RawResponse, type TlsOptions } from "../net/http.ts";
import { readRateLimit, type RateLimitListener, type RateLimitSnapshot } from "../net/rate-limit.ts";
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy } from "../net/retry.ts";
import { AzureDevOpsError, AzureDevOpsPermissionError, PoolNotFoundError } from "./errors.ts";
import {
  isFinished,
  type Agent,
  type AgentPackage,
  type AgentPlatform,
  type AgentPool,
  type JobRequest,
  type NewAgent,
} from "./model.ts";

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
  /** Told about every answer that carried rate-limit headers (a 429, or a 200 that was delayed). */
  onRateLimit?: RateLimitListener;
  /** Told about things worth a warning that are not errors (job request paging cut short). */
  onWarning?: (message: string) => void;
  /** Most pages of job requests read per listing (200 each); default 25, i.e. 5,000 requests. */
  maxJobRequestPages?: number;
}

const API_VERSION = "7.1";
/** Job requests are not in the public REST spec; the SDKs and Anklet use this version (reference B4). */
const JOB_REQUESTS_API_VERSION = "7.1-preview.1";
/** The service caps `$top` at 200 job requests per answer (facts 16, 28 in docs/controller-facts.md). */
export const JOB_REQUESTS_PAGE_SIZE = 200;
const CONTINUATION_HEADER = "x-ms-continuationtoken";

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
  private readonly onRateLimit: RateLimitListener | undefined;
  private readonly onWarning: (message: string) => void;
  private readonly maxJobRequestPages: number;
  /** The rate-limit headers of the last answer that carried any; undefined while none did. */
  lastRateLimit: RateLimitSnapshot | undefined;
  /** How many answers carried rate-limit headers, and how long the service said it delayed us in all. */
  readonly throttling = { answers: 0, blocked: 0, delayedSeconds: 0 };

  constructor(options: AzureDevOpsClientOptions) {
    this.base = parseOrganizationUrl(options.organizationUrl);
    this.organizationUrl = this.base.toString().replace(/\/$/, "");
    this.sender = new HttpSender(this.base, options.tls, options.proxy);
    this.authorization = `Basic ${Buffer.from(`:${options.pat}`).toString("base64")}`;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.clock = options.clock ?? realClock;
    this.onRateLimit = options.onRateLimit;
    this.onWarning = options.onWarning ?? (() => {});
    this.maxJobRequestPages = options.maxJobRequestPages ?? 25;
  }

  /** The Basic header this client sends; the tasks mask it as a derived secret. */
  get authorizationHeader(): string {
    return this.authorization;
  }

  async findPool(name: string): Promise<AgentPool> {
    const pools = await this.listPools(name);
    const pool = pools.find((p) => p.name.toLowerCase() === name.toLowerCase());
    if (pool) return pool;
    // An unknown name and a pool the PAT may not view both give an empty list (fact 7): the error
    // says both, and what this PAT can see helps tell them apart.
    const all = await this.listPools().catch(() => []);
    throw new PoolNotFoundError(
      name,
      this.organizationUrl,
      all.filter((p) => !p.isHosted).map((p) => p.name),
    );
  }

  async listPools(name?: string): Promise<AgentPool[]> {
    const query: Record<string, string> = name === undefined ? {} : { poolName: name };
    const { body } = await this.request("GET", "_apis/distributedtask/pools", query, { pool: name });
    return valuesOf(body) as AgentPool[];
  }

  async findAgents(pool: AgentPool, agentName: string): Promise<Agent[]> {
    const { body } = await this.request(
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
    const { body } = await this.request("GET", `_apis/distributedtask/pools/${pool.id}/agents`, query, {
      pool: pool.name,
    });
    return (valuesOf(body) as Partial<Agent>[]).map(normaliseAgent);
  }

  /**
   * The pool's job requests (reference B4), every page of them. The paged form (`$top`) answers
   * at most 200 per call, running first, then queued, then finished, and names the next page in
   * `X-MS-ContinuationToken` (facts 16, 28). `unfinishedOnly` (the default) stops at the first
   * finished request, since all that follow are finished too. Paging stops after
   * `maxJobRequestPages` with a warning. Demands come back as strings whatever form the service used.
   */
  async listJobRequests(pool: AgentPool, options: { unfinishedOnly?: boolean } = {}): Promise<JobRequest[]> {
    const unfinishedOnly = options.unfinishedOnly !== false;
    const requests: JobRequest[] = [];
    let continuationToken: string | undefined;
    for (let page = 1; ; page++) {
      const query: Record<string, string> = { $top: String(JOB_REQUESTS_PAGE_SIZE) };
      if (continuationToken !== undefined) query.continuationToken = continuationToken;
      const { body, headers } = await this.request(
        "GET",
        `_apis/distributedtask/pools/${pool.id}/jobrequests`,
        query,
        { pool: pool.name, apiVersion: JOB_REQUESTS_API_VERSION },
      );
      const pageRequests = valuesOf(body).map(normaliseJobRequest);
      const kept = unfinishedOnly ? pageRequests.filter((r) => !isFinished(r)) : pageRequests;
      requests.push(...kept);
      const next = headerText(headers[CONTINUATION_HEADER]);
      if (!next || next === continuationToken || (unfinishedOnly && kept.length < pageRequests.length))
        return requests;
      if (page >= this.maxJobRequestPages) {
        this.onWarning(
          `Pool "${pool.name}" has more than ${page * JOB_REQUESTS_PAGE_SIZE} job requests; read only the first ${page} pages. Jobs beyond them are seen once earlier ones finish.`,
        );
        return requests;
      }
      continuationToken = next;
    }
  }

  /**
   * Registers an agent record by REST, as `config.sh` does (reference azure-pipelines-agent.md §2
   * step 9). Nothing connects as this agent unless someone holds the private key of `publicKey`.
   */
  async addAgent(pool: AgentPool, agent: NewAgent): Promise<Agent> {
    const { body } = await this.request(
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
    const { body } = await this.request(
      "PUT",
      `_apis/distributedtask/pools/${pool.id}/agents/${agentId}/usercapabilities`,
      {},
      { pool: pool.name, manage: true, body: capabilities },
    );
    return normaliseAgent((body ?? {}) as Partial<Agent>);
  }

  /**
   * Removes an agent record. Returns false when it was already gone: the service answers 204 for a
   * delete, and 404 or (without its validation flag) 204 again for an id that no longer exists (fact 10).
   */
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
    const { body } = await this.request(
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
  ): Promise<{ body: unknown; headers: RawResponse["headers"] }> {
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
              // Without it a refused credential may get a 203 HTML sign-in page instead of a 401 (fact 24).
              "x-tfs-fedauthredirect": "Suppress",
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
        const rateLimit = this.noteRateLimit(response);
        return {
          body: this.readAnswer(response, where, context, rateLimit),
          headers: response.headers,
        };
      },
      {
        policy: this.retry,
        sleep: (ms) => this.clock.sleep(ms),
        isRetryable: (error) => error instanceof AzureDevOpsError && error.retryable,
      },
    );
  }

  private noteRateLimit(response: RawResponse): RateLimitSnapshot | undefined {
    const snapshot = readRateLimit(response.status, response.headers, this.clock.now());
    if (!snapshot) return undefined;
    this.lastRateLimit = snapshot;
    this.throttling.answers += 1;
    if (response.status === 429) this.throttling.blocked += 1;
    this.throttling.delayedSeconds += snapshot.delaySeconds ?? 0;
    this.onRateLimit?.(snapshot);
    return snapshot;
  }

  private readAnswer(
    response: RawResponse,
    where: string,
    context: { pool?: string; manage?: boolean },
    rateLimit: RateLimitSnapshot | undefined,
  ): unknown {
    const { status } = response;
    // A stopped organization answers JSON with a byte-order mark (fact 25).
    const text = response.text.replace(/^\uFEFF/, "");
    const json = parseJson(text);
    const serverMessage = (json as { message?: unknown } | undefined)?.message;
    const detail = typeof serverMessage === "string" ? `: ${serverMessage}` : "";
    const pool = context.pool ? `pool "${context.pool}"` : "agent pools";
    if (status === 401 || status === 203) {
      // 203 with a sign-in page is how Azure DevOps answers some calls with a bad PAT (fact 24).
      throw new AzureDevOpsPermissionError(
        `Azure DevOps (${this.organizationUrl}) rejected the PAT (HTTP ${status}${status === 203 ? ", a sign-in page" : ""}): it is wrong, expired or revoked, or its user has no access to the organization${detail}. ` +
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
    const error = new AzureDevOpsError(
      `Azure DevOps refused ${where} (HTTP ${status})${detail || (text ? `: ${excerpt(text)}` : "")}`,
      status,
      status >= 500 || status === 429,
    );
    if (rateLimit?.retryAfterMs !== undefined) error.retryAfterMs = rateLimit.retryAfterMs;
    throw error;
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

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
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
