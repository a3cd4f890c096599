// Azure DevOps emulator: a real HTTP server on loopback serving one organization's agent pools, agents,
// sessions, messages, job requests and agent packages, after the reference documents
// (azure-pipelines-agent.md, azure-devops.md §6, startup-scripts-and-job-requests.md Part B).
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { buildAgentPackage } from "../agent-package/build.ts";
import { createAdminHandler } from "./admin.ts";
import { AgentCredentials } from "./agent-credentials.ts";
import { FaultBook } from "./faults.ts";
import { Organization } from "./organization.ts";
import { servedFilenames, type AgentTarball } from "./packages.ts";
import { Router } from "./router.ts";
import { agentRoutes } from "./routes/agents.ts";
import { connectionRoutes } from "./routes/connection.ts";
import { jobRequestRoutes } from "./routes/job-requests.ts";
import { packageRoutes } from "./routes/packages.ts";
import { poolRoutes } from "./routes/pools.ts";
import { sessionRoutes } from "./routes/sessions.ts";
import { ServiceHooks } from "./service-hooks.ts";
import { createRequestListener } from "./server.ts";
import { Throttle, type ThrottleConfig } from "./throttle.ts";
import type { AzureDevOpsEmulator, AzureDevOpsEmulatorOptions, RecordedRequest } from "./types.ts";
import { agentView, jobView, poolView } from "./views.ts";

export type * from "./types.ts";

export const DEFAULT_POOLS = [
  { id: 1, name: "Default" },
  { id: 10, name: "Anka" },
];
export const DEFAULT_AGENT_VERSION = "4.264.2";

export async function startAzureDevOpsEmulator(
  options: AzureDevOpsEmulatorOptions = {},
): Promise<AzureDevOpsEmulator> {
  const organizationName = options.organization ?? "contoso";
  const agentVersion = options.agentVersion ?? DEFAULT_AGENT_VERSION;
  const tarball: AgentTarball = await buildAgentPackage({ version: agentVersion });
  const startedOn = new Date().toISOString();

  // The server listens first: every URL the service hands out (org URL, token endpoint, download
  // links) needs the port.
  let listener: RequestListener = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => listener(req, res));
  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const origin = `http://${host}:${address.port}`;
  const orgUrl = `${origin}/${organizationName}`;

  const credentials = new AgentCredentials(`${orgUrl}/_apis/oauth2/token`);
  const hooks = new ServiceHooks(orgUrl);
  const org = new Organization({
    orgUrl,
    pools: options.pools ?? DEFAULT_POOLS,
    offlineAfterMs: options.offlineAfterMs ?? 2000,
    jobDurationMs: options.jobDurationMs ?? 200,
    rejectUnsatisfiable: options.rejectUnsatisfiable ?? false,
    credentials,
    now: Date.now,
    onJobState: (job, state) => hooks.jobStateChanged(job, state),
  });
  const requests: RecordedRequest[] = [];
  const faults = new FaultBook();
  let throttle: Throttle | undefined;
  const setThrottle = (config: ThrottleConfig | undefined) => {
    throttle = config ? new Throttle(config, Date.now) : undefined;
  };
  setThrottle(options.throttle);
  const closing = new AbortController();
  const router = new Router([
    ...connectionRoutes,
    ...poolRoutes,
    ...agentRoutes,
    ...sessionRoutes({ longPollMs: options.longPollMs ?? 1000 }),
    ...jobRequestRoutes,
    ...packageRoutes({ agentVersion, tarball: () => tarball, createdOn: startedOn }),
  ]);

  const poolNamed = (name: string) => {
    const pool = org.poolByName(name);
    if (!pool) throw new Error(`The emulated organization has no pool named '${name}'.`);
    return pool;
  };

  const emulator: AzureDevOpsEmulator = {
    url: orgUrl,
    requests,
    pool(name) {
      const pool = org.poolByName(name);
      return pool ? poolView(pool, org) : undefined;
    },
    agents(poolName) {
      org.sweep();
      return org.agentsIn(poolNamed(poolName).id).map((agent) => agentView(agent, org));
    },
    queueJob(poolName, demands, queueOptions) {
      org.sweep();
      return jobView(org.queueJob(poolNamed(poolName), demands, queueOptions));
    },
    job(requestId) {
      org.sweep();
      const job = org.job(requestId);
      return job ? jobView(job) : undefined;
    },
    jobs(poolName) {
      org.sweep();
      return org
        .jobsIn(poolNamed(poolName).id)
        .sort((a, b) => a.requestId - b.requestId)
        .map(jobView);
    },
    subscribeServiceHook: (subscription) => hooks.subscribe(subscription),
    unsubscribeServiceHooks: () => hooks.unsubscribeAll(),
    hookDeliveries: () => [...hooks.deliveries],
    addFault: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    setThrottle,
    throttleCounts: () => ({ ...(throttle?.counts ?? { flagged: 0, delayed: 0, blocked: 0 }) }),
    async close() {
      closing.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  listener = createRequestListener({
    organizationName,
    organization: org,
    tokens: options.tokens ?? [],
    credentials,
    router,
    admin: createAdminHandler(emulator),
    faults,
    throttle: () => throttle,
    requests,
    tarball: () => tarball,
    servedFilenames: servedFilenames(agentVersion),
    origin,
    closing: closing.signal,
  });
  return emulator;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
