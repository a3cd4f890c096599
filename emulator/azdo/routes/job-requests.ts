// Job requests of a pool (startup-scripts-and-job-requests.md B4) and the listener's lock renewal /
// finish (azure-pipelines-agent.md §3 "Job run": PATCH …/jobrequests/{requestId}?lockToken=…).
import { requireAgentOrManage } from "../auth.ts";
import { badRequest } from "../errors.ts";
import type { JobRecord } from "../records.ts";
import type { Route } from "../router.ts";
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
      const topText = queryParam(query, "$top", "top");
      // B4: with $top the answer carries no matchedAgents and the service caps it at 200 items.
      const top = topText && /^\d+$/.test(topText) ? Math.min(Number(topText), 200) : undefined;
      if (top !== undefined) jobs = jobs.slice(0, top);
      return list(jobs.map((job) => jobJson(job, organization, { matchedAgents: top === undefined })));
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
