// Admin routes under /_emulator/ for a process that does not hold the emulator object (the demo, a
// shell): queue and read jobs, list agents, read the request log, add faults, set throttling. Not authenticated, not
// recorded.
import type { AzureDevOpsEmulator, FaultRule, QueueJobOptions, ThrottleConfig } from "./types.ts";
import type { Reply } from "./router.ts";
import type { AdminHandler } from "./server.ts";

const notFound = (message: string): Reply => ({ status: 404, json: { message } });

export function createAdminHandler(target: AzureDevOpsEmulator): AdminHandler {
  return (method, path, query, body) => {
    const input = (body ?? {}) as Record<string, unknown>;
    const jobId = /^\/_emulator\/jobs\/(\d+)$/.exec(path)?.[1];
    if (method === "POST" && path === "/_emulator/jobs") {
      const pool = typeof input.pool === "string" ? input.pool : "";
      if (!target.pool(pool)) return notFound(`No pool named '${pool}'.`);
      const demands = Array.isArray(input.demands) ? input.demands.map(String) : [];
      const options: QueueJobOptions = {
        ...(typeof input.durationMs === "number" ? { durationMs: input.durationMs } : {}),
        ...(typeof input.name === "string" ? { name: input.name } : {}),
        ...(input.result === "failed" || input.result === "succeeded" ? { result: input.result } : {}),
      };
      return { status: 200, json: target.queueJob(pool, demands, options) };
    }
    if (method === "GET" && jobId) {
      const job = target.job(Number(jobId));
      return job ? { status: 200, json: job } : notFound(`No job request ${jobId}.`);
    }
    if (method === "GET" && path === "/_emulator/agents") {
      const pool = query.get("pool") ?? "";
      if (!target.pool(pool)) return notFound(`No pool named '${pool}'.`);
      return { status: 200, json: target.agents(pool) };
    }
    if (method === "GET" && path === "/_emulator/requests") return { status: 200, json: target.requests };
    if (method === "POST" && path === "/_emulator/faults") {
      target.addFault(input as unknown as FaultRule);
      return { status: 204 };
    }
    if (method === "DELETE" && path === "/_emulator/faults") {
      target.clearFaults();
      return { status: 204 };
    }
    if (method === "PUT" && path === "/_emulator/throttle") {
      try {
        target.setThrottle(input as unknown as ThrottleConfig);
      } catch (error) {
        return { status: 400, json: { message: (error as Error).message } };
      }
      return { status: 204 };
    }
    if (method === "DELETE" && path === "/_emulator/throttle") {
      target.setThrottle(undefined);
      return { status: 204 };
    }
    if (method === "GET" && path === "/_emulator/throttle")
      return { status: 200, json: target.throttleCounts() };
    return undefined;
  };
}
