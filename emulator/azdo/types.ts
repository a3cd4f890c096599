// Public types of the Azure DevOps emulator: its options, the views it hands to tests, fault rules.
import type { IncomingHttpHeaders } from "node:http";
import type { HookDelivery, ServiceHookSubscription } from "./service-hooks.ts";
import type { ThrottleConfig } from "./throttle.ts";

export type { ThrottleConfig };

export interface PoolConfig {
  id?: number;
  name: string;
}

/**
 * A personal access token. `manage: true` may manage every pool, a list only the pools named
 * (case-insensitive), `false` only reads. `owner` is the display name used in 403 messages.
 */
export interface TokenConfig {
  token: string;
  manage: boolean | string[];
  owner?: string;
}

export interface AzureDevOpsEmulatorOptions {
  host?: string;
  port?: number;
  /** Organization name: the org URL is http://HOST:PORT/<organization>. Default "contoso". */
  organization?: string;
  /** Default [{ id: 1, name: "Default" }, { id: 10, name: "Anka" }]. */
  pools?: PoolConfig[];
  /** No tokens (the default) means every request is 401. */
  tokens?: TokenConfig[];
  /** The agent version the packages API advertises and the stand-in agent reports. Default "4.264.2". */
  agentVersion?: string;
  /** A session that stops polling (and has no poll in flight) expires after this; agent goes offline. Default 2000. */
  offlineAfterMs?: number;
  /** How long the stand-in agent "runs" a job when queueJob gives no duration. Default 200. */
  jobDurationMs?: number;
  /** How long GET messages holds an empty poll open (the real service holds ~50 s). Default 1000. */
  longPollMs?: number;
  /**
   * Fail a job at queue time when no registered agent (online or not, enabled or not) satisfies its
   * demands, as Azure DevOps does (startup-scripts-and-job-requests.md B6). Default false.
   */
  rejectUnsatisfiable?: boolean;
  /** Rate-limit each PAT: headers, then delays, then 429 (throttle.ts). Default: no limit. */
  throttle?: ThrottleConfig;
}

export interface PoolView {
  id: number;
  name: string;
  isHosted: boolean;
  poolType: "automation";
  size: number;
  createdOn: string;
}

export interface AgentJobReference {
  requestId: number;
  name: string;
  result?: JobResult;
}

export interface AgentView {
  id: number;
  name: string;
  status: "online" | "offline";
  enabled: boolean;
  version: string;
  osDescription: string;
  systemCapabilities: Record<string, string>;
  userCapabilities: Record<string, string>;
  createdOn: string;
  /** When the agent last went online or offline (registration counts). */
  statusChangedOn: string;
  assignedRequest?: AgentJobReference;
  lastCompletedRequest?: AgentJobReference;
}

export type JobResult = "succeeded" | "succeededWithIssues" | "failed" | "canceled" | "skipped" | "abandoned";

export interface JobView {
  requestId: number;
  poolId: number;
  name: string;
  demands: string[];
  queueTime: string;
  assignTime?: string;
  receiveTime?: string;
  finishTime?: string;
  lockedUntil?: string;
  result?: JobResult;
  /** Why a job failed without running, e.g. no agent satisfies its demands. */
  statusMessage?: string;
  reservedAgent?: { id: number; name: string };
}

export interface QueueJobOptions {
  durationMs?: number;
  name?: string;
  /** The result the stand-in agent reports when it finishes the job. Default "succeeded". */
  result?: "succeeded" | "failed";
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The authorization header is reduced to its scheme ("Basic", "Bearer"). */
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the body is JSON, the raw text otherwise, undefined when empty. */
  body: unknown;
  /** Epoch milliseconds. */
  time: number;
  /** The fault rule applied to this request, if any. */
  fault?: FaultRule["kind"];
}

export interface FaultRule {
  /** Match this method (any when absent). */
  method?: string;
  /** Match paths containing this text (any when absent). */
  pathIncludes?: string;
  /** How many requests the rule affects; default 1, Infinity for no limit. */
  times?: number;
  /** "status": answer with an error; "reset": destroy the socket; "delay": wait, then handle normally. */
  kind: "status" | "reset" | "delay";
  /** For "status"; default 503. */
  status?: number;
  /** For "delay"; default 1000. */
  delayMs?: number;
  /** For "status": a `Retry-After` header to send with it (seconds or an HTTP date). */
  retryAfter?: string;
}

export interface AzureDevOpsEmulator {
  /** Organization URL, e.g. http://127.0.0.1:PORT/contoso */
  url: string;
  /** Every REST and download request received (admin requests excluded), oldest first. */
  requests: RecordedRequest[];
  pool(name: string): PoolView | undefined;
  agents(poolName: string): AgentView[];
  /** Demands in Azure DevOps syntax: "Name", "Name -equals value", "Name -gtVersion 1.2.3". */
  queueJob(poolName: string, demands: string[], options?: QueueJobOptions): JobView;
  job(requestId: number): JobView | undefined;
  /** Every job request of a pool, oldest first. */
  jobs(poolName: string): JobView[];
  /** Sends `ms.vss-pipelines.job-state-changed-event` hooks for every job to this subscriber. */
  subscribeServiceHook(subscription: ServiceHookSubscription): void;
  unsubscribeServiceHooks(): void;
  /** Hook calls made so far, with the subscriber's answer. */
  hookDeliveries(): HookDelivery[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  /** Starts (or, with undefined, stops) rate limiting; usage so far is forgotten. */
  setThrottle(config: ThrottleConfig | undefined): void;
  /** Answers flagged with rate-limit headers, delayed and blocked since the throttle was set. */
  throttleCounts(): { flagged: number; delayed: number; blocked: number };
  /** Stops the server and answers every held long poll. */
  close(): Promise<void>;
}
