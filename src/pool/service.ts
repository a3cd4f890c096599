import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { realClock, type Clock } from "../clock.ts";
import { openConnection, type OpenedConnection } from "../core/index.ts";
import { rateLimitedDelay } from "../net/rate-limit.ts";
import type { PoolConfig } from "./config.ts";
import { handleHook, PassTrigger } from "./hooks.ts";
import { createJsonLogger, SecretSet, type PoolLogger } from "./log.ts";
import { STATUS_PAGE } from "./status-page.ts";
import { classStatuses, RecentEvents, type PoolStatus } from "./status.ts";
import { createPoolMetrics, type PoolMetrics } from "./metrics.ts";
import { PoolReconciler, type PassReport } from "./reconciler.ts";

/**
 * The service loop: a reconcile pass every `pollSeconds`, backing off while the controller or
 * Azure DevOps fails; `/healthz` and `/metrics`; on the signal it stops starting VMs, lets the
 * start requests in flight finish, and leaves every running job and VM alone.
 */
export interface PoolServiceDeps {
  /** Default: JSON lines on stdout at the config's log level, secrets masked. */
  log?: PoolLogger;
  clock?: Clock;
  /** Aborting it stops the service (SIGTERM/SIGINT in main.ts). */
  signal: AbortSignal;
  /** The secrets to mask; the service registers the PAT, tokens and startup scripts in it. */
  secrets?: SecretSet;
  /** Told after every pass (tests, the benchmark). */
  onPass?: (outcome: { report?: PassReport; error?: Error }) => void;
}

export interface PoolServiceHandle {
  /** Base URL of `/healthz` and `/metrics` when the config has `http`. */
  httpUrl?: string;
  metrics: PoolMetrics;
  /** Settles when the service has stopped. */
  done: Promise<void>;
}

/**
 * Passes a stream of hooks may cause, at most two a second: during a burst of hundreds of jobs
 * Azure DevOps sends a call per job and state, and each pass costs two listings (all pages) against
 * the organization's rate limit. This gap is also what coalesces a burst: calls that come during a
 * pass or within the gap after its start cost one pass between them. A call after a quiet spell
 * starts its pass at once: it used to wait a fixed 200 ms for the rest of its burst as well, which
 * in the fleet bench (VMs that start in about 2 s) was half of the 390 ms from a burst's jobs
 * queued to their VMs created on the controller, and 0.1 of the 1.14 queued-to-assigned ratio.
 */
const HOOK_PASS_GAP_MS = 500;

/** How long a stopping service waits for start requests already sent. */
const DRAIN_TIMEOUT_MS = 30_000;

export async function runPoolService(config: PoolConfig, deps: PoolServiceDeps): Promise<void> {
  const handle = await startPoolService(config, deps);
  await handle.done;
}

export async function startPoolService(
  config: PoolConfig,
  deps: PoolServiceDeps,
): Promise<PoolServiceHandle> {
  const clock = deps.clock ?? realClock;
  const secrets = deps.secrets ?? new SecretSet();
  const recent = new RecentEvents(secrets);
  const log = recent.tee(deps.log ?? defaultLogger(config, secrets));
  const metrics = await createPoolMetrics();
  const connection = openConnection(config.connection, log, secrets.register);
  const reconciler = new PoolReconciler(config, {
    connection,
    log,
    clock,
    metrics,
    registerSecret: secrets.register,
    releaseSecrets: (values) => secrets.release(values),
  });
  const pollMs = config.pollSeconds * 1000;
  const trigger = new PassTrigger();
  if (config.hooks) secrets.register(config.hooks.password);
  const state = {
    lastSuccess: undefined as number | undefined,
    lastReport: undefined as PassReport | undefined,
    failures: 0,
    lastError: undefined as string | undefined,
  };

  let server: Server | undefined;
  let httpUrl: string | undefined;
  if (config.http) {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://service").pathname;
      if (path === "/hooks" && config.hooks) {
        handleHook(config.hooks, req, res, (outcome) => {
          metrics.hookRequests.inc({ outcome });
          if (outcome === "accepted") trigger.fire();
          else log.debug(`Refused a service hook call: ${outcome}`, { remote: req.socket.remoteAddress });
        });
      } else if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET" }).end();
      } else if (path === "/metrics") {
        metrics.render().then(
          (body) => res.writeHead(200, { "content-type": metrics.contentType }).end(body),
          (error: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${error.message}\n`),
        );
      } else if (path === "/status") {
        const status = statusOf(config, state, recent, connection, clock.now(), pollMs);
        res
          .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
          .end(`${JSON.stringify(status)}\n`);
      } else if (path === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(STATUS_PAGE);
      } else if (path === "/healthz") {
        const health = healthOf(state, clock.now(), pollMs);
        res
          .writeHead(health.healthy ? 200 : 503, { "content-type": "application/json" })
          .end(`${JSON.stringify(health.body)}\n`);
      } else {
        res
          .writeHead(404, { "content-type": "text/plain" })
          .end(`Not found: try /, /status, /healthz or /metrics${config.hooks ? " (or POST /hooks)" : ""}\n`);
      }
    });
    httpUrl = await listen(server, config.http.host, config.http.port);
  }

  log.info(`Pool service started for pool "${config.pool}"`, {
    pool: config.pool,
    controller: config.connection.controllerUrl,
    azureDevOps: config.connection.agent.azureDevOpsUrl,
    classes: config.classes.map((c) => c.name),
    pollSeconds: config.pollSeconds,
    maxVms: config.maxVms,
    ...(httpUrl ? { http: httpUrl } : {}),
  });
  deps.signal.addEventListener("abort", () => reconciler.stopStarting(), { once: true });

  const done = (async () => {
    try {
      while (!deps.signal.aborted) {
        let delay = pollMs;
        const throttledBefore = connection.azdo.throttling.answers;
        trigger.arm();
        const passBegan = clock.now();
        try {
          const report = await reconciler.reconcileOnce();
          delay = throttledPassDelay(pollMs, connection, throttledBefore, metrics, clock.now());
          if (delay > pollMs)
            log.warn("Azure DevOps is rate limiting this service: next pass later", {
              delayMs: delay,
              ...connection.azdo.lastRateLimit,
            });
          state.failures = 0;
          state.lastError = undefined;
          state.lastReport = report;
          state.lastSuccess = clock.now();
          metrics.consecutiveFailures.set({}, 0);
          if (!report.ok) log.warn("Reconcile pass finished with errors", { errors: report.errors });
          log.debug("Reconcile pass", summary(report));
          deps.onPass?.({ report });
        } catch (error) {
          state.failures++;
          state.lastError = (error as Error).message;
          metrics.consecutiveFailures.set({}, state.failures);
          metrics.passes.inc({ outcome: "failed" });
          delay = backoff(pollMs, state.failures);
          log.warn(
            `Reconcile pass failed (${state.failures} in a row); nothing was changed. Next try in ${Math.round(delay / 100) / 10} s`,
            { error: (error as Error).message },
          );
          deps.onPass?.({ error: error as Error });
        }
        // A hook ends a normal wait early; it never shortens a rate-limit delay or a failure backoff.
        const wake = delay === pollMs ? AbortSignal.any([deps.signal, trigger.signal]) : deps.signal;
        await clock.sleep(delay, wake).catch(() => {});
        // Woken by a hook: no sooner than the gap after the last pass began, so that the rest of a
        // burst costs one more pass, not one per call; at once when the last pass is older than that.
        const gapLeft = passBegan + HOOK_PASS_GAP_MS - clock.now();
        if (trigger.signal.aborted && !deps.signal.aborted && gapLeft > 0)
          await clock.sleep(gapLeft, deps.signal).catch(() => {});
      }
      reconciler.stopStarting();
      const left = await reconciler.drain(DRAIN_TIMEOUT_MS);
      await reconciler.releaseLease();
      log.info("Pool service stopped: no new VMs; running jobs and their VMs are left alone", {
        ...(left > 0 ? { startRequestsStillInFlight: left } : {}),
      });
    } finally {
      await closeServer(server);
      connection.close();
    }
  })();
  return { httpUrl, metrics, done };
}

/**
 * `--once`: one pass, then wait for the start requests it sent. Throws when the controller or Azure
 * DevOps could not be read; `ok` is false when an action or a start failed.
 */
export async function reconcileOnce(
  config: PoolConfig,
  deps: { log?: PoolLogger; clock?: Clock; secrets?: SecretSet; drainTimeoutMs?: number } = {},
): Promise<PassReport> {
  const secrets = deps.secrets ?? new SecretSet();
  const log = deps.log ?? defaultLogger(config, secrets);
  const connection: OpenedConnection = openConnection(config.connection, log, secrets.register);
  try {
    const reconciler = new PoolReconciler(config, {
      connection,
      log,
      clock: deps.clock ?? realClock,
      metrics: await createPoolMetrics(),
      registerSecret: secrets.register,
      releaseSecrets: (values) => secrets.release(values),
    });
    const report = await reconciler.reconcileOnce();
    const left = await reconciler.drain(deps.drainTimeoutMs ?? 5 * 60_000);
    await reconciler.releaseLease();
    const errors = [...report.errors, ...reconciler.takeStartErrors()];
    if (left > 0) errors.push(`${left} start request(s) did not finish in time`);
    log.info("Reconcile pass done", summary({ ...report, errors }));
    return { ...report, errors, ok: errors.length === 0 };
  } finally {
    connection.close();
  }
}

function defaultLogger(config: PoolConfig, secrets: SecretSet): PoolLogger {
  return createJsonLogger({
    level: config.logLevel,
    secrets,
    write: (line) => process.stdout.write(`${line}\n`),
  });
}

function summary(report: PassReport) {
  return {
    ok: report.errors.length === 0,
    queued: report.queued,
    unmatched: report.unmatched,
    starts: report.startsRequested,
    terminated: report.terminated,
    durationMs: report.durationMs,
    ...(report.errors.length ? { errors: report.errors } : {}),
    classes: Object.fromEntries(
      Object.entries(report.classes).map(([name, c]) => [
        name,
        { ...c.phases, pending: c.pending, queued: c.queued, start: c.start },
      ]),
    ),
  };
}

/** The next pass's delay given what Azure DevOps said about rate limits in this one, exported as metrics. */
function throttledPassDelay(
  pollMs: number,
  connection: OpenedConnection,
  throttledBefore: number,
  metrics: PoolMetrics,
  now: number,
): number {
  const { lastRateLimit: last, throttling } = connection.azdo;
  const values = {
    throttled_answers: throttling.answers,
    blocked_answers: throttling.blocked,
    remaining: last?.remaining,
    limit: last?.limit,
    delay_seconds: last?.delaySeconds,
    reset_timestamp_seconds: last?.resetEpochSeconds,
  };
  for (const [value, number] of Object.entries(values))
    if (number !== undefined) metrics.azdoRateLimit.set({ value }, number);
  return rateLimitedDelay(pollMs, throttling.answers > throttledBefore ? last : undefined, now);
}

/** Exponential with jitter, from one poll interval up to 16 of them (at most 2 minutes). */
export function backoff(pollMs: number, failures: number, random: () => number = Math.random): number {
  const cap = Math.max(pollMs, Math.min(pollMs * 16, 120_000));
  const ceiling = Math.min(cap, pollMs * 2 ** failures);
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

function statusOf(
  config: PoolConfig,
  state: Parameters<typeof healthOf>[0] & { lastReport?: PassReport },
  recent: RecentEvents,
  connection: OpenedConnection,
  now: number,
  pollMs: number,
): PoolStatus {
  const report = state.lastReport;
  const events = recent.list();
  return {
    pool: config.pool,
    time: new Date(now).toISOString(),
    health: healthOf(state, now, pollMs).body as PoolStatus["health"],
    ...(report?.refusedBy ? { refusedBy: report.refusedBy } : {}),
    ...(report
      ? {
          lastPass: {
            durationMs: report.durationMs,
            planCpuMs: report.planCpuMs,
            startsRequested: report.startsRequested,
            terminated: report.terminated,
            unmatched: report.unmatched,
          },
        }
      : {}),
    classes: classStatuses(
      report,
      config.classes.map((c) => c.name),
    ),
    ...(connection.azdo.lastRateLimit ? { rateLimit: connection.azdo.lastRateLimit } : {}),
    events,
    errors: events.filter((event) => event.level !== "info"),
  };
}

function healthOf(
  state: { lastSuccess?: number; failures: number; lastError?: string },
  now: number,
  pollMs: number,
): { healthy: boolean; body: Record<string, unknown> } {
  const staleMs = Math.max(pollMs * 10, 120_000);
  const base = {
    lastSuccess: state.lastSuccess === undefined ? null : new Date(state.lastSuccess).toISOString(),
    consecutiveFailures: state.failures,
    ...(state.lastError ? { lastError: state.lastError } : {}),
  };
  if (state.lastSuccess === undefined) return { healthy: false, body: { status: "starting", ...base } };
  if (state.failures >= 3 || now - state.lastSuccess > staleMs)
    return { healthy: false, body: { status: "failing", ...base } };
  return { healthy: true, body: { status: "ok", ...base } };
}

function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve(`http://${shown}:${address.port}`);
    });
  });
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
