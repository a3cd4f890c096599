// Job requests of a pool (startup-scripts-and-job-requests.md B4) and the listener's lock renewal /
// finish (azure-pipelines-agent.md §3 "Job run": PATCH …/jobrequests/{requestId}?lockToken=…).
import { requireAgentOrManage } from "../auth.ts";
import { badRequest } from "../errors.ts";
import type { JobRecord } from "../records.ts";
import type { ApiContext, Reply, Route } from "../router.ts";
import { json, list, queryParam } from "../router.ts";
import type { JobResult } from "../types.ts";
import { jobJson } from "../views.ts";
import { bodyObject, pathInt, pathPool } from "./common.ts";

const RESULTS: readonly JobResult[] = [
  "succeeded",
  "succeededWithIssues",
  "failed",
  "canceled",
  "skipped",
  "abandoned",
];

function parseResult(value: unknown): JobResult | undefined {
  if (value === undefined || value === null) return undefined;
  const match = RESULTS.find((result) => result.toLowerCase() === String(value).toLowerCase());
  if (!match) throw badRequest(`'${String(value)}' is not a valid TaskResult.`);
  return match;
}

const unfinished = (job: JobRecord) => job.result === undefined;

/** Facts 16, 28: the paged form caps `$top` at 200 and orders running, then queued, then finished. */
export const MAX_JOB_REQUESTS_PER_PAGE = 200;
const rank = (job: JobRecord) => (job.result !== undefined ? 2 : job.assignTime !== undefined ? 0 : 1);
const pageKey = (job: JobRecord) => `${rank(job)}:${job.requestId}`;
const byPageOrder = (a: JobRecord, b: JobRecord) => rank(a) - rank(b) || a.requestId - b.requestId;

/**
 * The `$top` overload: one page, the next one named by an opaque `X-MS-ContinuationToken` that the
 * caller sends back as `continuationToken`. Our token encodes where the next page starts (order
 * group and request id); the real one's content is not known and clients must not read it.
 * Without matchedAgents, as KEDA observed (keda#4387).
 */
function pagedJobs(context: ApiContext, poolId: number, topText: string): Reply {
  const asked = /^-?\d+$/.test(topText) ? Number(topText) : MAX_JOB_REQUESTS_PER_PAGE;
  const top = asked <= 0 || asked > MAX_JOB_REQUESTS_PER_PAGE ? MAX_JOB_REQUESTS_PER_PAGE : asked;
  const token = queryParam(context.query, "continuationToken");
  const from = token === undefined ? undefined : Buffer.from(token, "base64url").toString();
  if (from !== undefined && !/^[0-2]:\d+$/.test(from))
    throw badRequest(`The continuation token '${token}' is not valid.`);
  const ordered = context.organization.jobsIn(poolId).sort(byPageOrder);
  const start = from === undefined ? 0 : ordered.findIndex((job) => byKey(job, from) >= 0);
  const page = start < 0 ? [] : ordered.slice(start, start + top);
  const next = start < 0 ? undefined : ordered[start + top];
  const reply = list(page.map((job) => jobJson(job, context.organization, { matchedAgents: false })));
  return next
    ? { ...reply, headers: { "x-ms-continuationtoken": Buffer.from(pageKey(next)).toString("base64url") } }
    : reply;
}

function byKey(job: JobRecord, key: string): number {
  const [keyRank, keyId] = key.split(":").map(Number) as [number, number];
  return rank(job) - keyRank || job.requestId - keyId;
}

export const jobRequestRoutes: Route[] = [
  {
    method: "GET",
    template: "distributedtask/pools/{poolId}/jobrequests",
    handler: (context) => {
      const pool = pathPool(context);
      const { query, organization } = context;
      let jobs = organization.jobsIn(pool.id).sort((a, b) => b.requestId - a.requestId);
      const agentIds = (queryParam(query, "agentId", "agentIds") ?? "")
        .split(",")
        .filter((id) => /^\d+$/.test(id))
        .map(Number);
      const completedText = queryParam(query, "completedRequestCount");
      const completed = completedText && /^\d+$/.test(completedText) ? Number(completedText) : undefined;
      if (agentIds.length) {
        // Current request plus the last n completed ones per agent (B4).
        jobs = jobs.filter(
          (job) => job.reservedAgentId !== undefined && agentIds.includes(job.reservedAgentId),
        );
        const keepCompleted = completed ?? 50;
        const kept = new Map<number, number>();
        jobs = jobs.filter((job) => {
          if (unfinished(job)) return true;
          const agentId = job.reservedAgentId as number;
          const count = kept.get(agentId) ?? 0;
          kept.set(agentId, count + 1);
          return count < keepCompleted;
        });
      } else if (completed === 0) {
        jobs = jobs.filter(unfinished);
      }
      const topText = queryParam(query, "$top");
      if (topText !== undefined && !agentIds.length) return pagedJobs(context, pool.id, topText);
      return list(jobs.map((job) => jobJson(job, organization, { matchedAgents: true })));
    },
  },
  {
    method: "GET",
    template: "distributedtask/pools/{poolId}/jobrequests/{requestId}",
    handler: (context) => {
      const pool = pathPool(context);
      const job = context.organization.poolJob(pool, pathInt(context, "requestId"));
      return json(200, jobJson(job, context.organization, { matchedAgents: true }));
    },
  },
  {
    method: "PATCH",
    template: "distributedtask/pools/{poolId}/jobrequests/{requestId}",
    handler: (context) => {
      const pool = pathPool(context);
      const job = context.organization.poolJob(pool, pathInt(context, "requestId"));
      requireAgentOrManage(context.principal, pool, job.reservedAgentId ?? -1);
      const lockToken = queryParam(context.query, "lockToken");
      const emptyGuid = /^[0-]+$/.test(lockToken ?? "");
      if (lockToken && !emptyGuid && lockToken.toLowerCase() !== job.lockToken.toLowerCase()) {
        throw badRequest(`The lock token for job request ${job.requestId} is not valid.`);
      }
      const body = bodyObject(context);
      const updated = context.organization.updateJob(job, parseResult(body.result));
      return json(200, jobJson(updated, context.organization, { matchedAgents: false }));
    },
  },
];
