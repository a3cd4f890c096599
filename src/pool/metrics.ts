/**
 * Every metric the pool service exposes on `/metrics`, through prom-client (the Prometheus text
 * format, label escaping and histogram buckets are its job). prom-client is imported here only, when
 * the service starts: the CLI's other commands never load it (it costs about 35 ms), and the task
 * bundles never see it. A new metric is one line below.
 */
export type PoolMetrics = Awaited<ReturnType<typeof createPoolMetrics>>;

export async function createPoolMetrics() {
  const { Counter, Gauge, Histogram, Registry } = await import("prom-client");
  const registry = new Registry();
  const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  const gauge = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });

  return {
    /** The text for `/metrics`, and its content type. */
    render: (): Promise<string> => registry.metrics(),
    contentType: registry.contentType,
    queuedJobs: gauge(
      "anka_pool_queued_jobs",
      "Job requests waiting for an agent, by the class that serves them.",
      ["class"],
    ),
    unmatchedJobs: gauge("anka_pool_unmatched_jobs", "Queued job requests whose demands no class serves."),
    unmatchedJobsTotal: counter(
      "anka_pool_unmatched_jobs_total",
      "Job requests reported because no class serves their demands (each counted once).",
    ),
    vms: gauge(
      "anka_pool_vms",
      "VMs of the service by class and state (starting, registering, idle, busy, done, failed, pending).",
      ["class", "state"],
    ),
    placeholders: gauge("anka_pool_placeholder_agents", "Placeholder agents registered in the pool."),
    vmStarts: counter("anka_pool_vm_starts_total", "VM start requests accepted by the controller.", [
      "class",
    ]),
    vmStartFailures: counter(
      "anka_pool_vm_start_failures_total",
      "VMs that failed to become agents, by class and cause: template (cannot resolve), start_request (refused by the controller), instance_error, start_timeout, agent (never registered or went offline before its job).",
      ["class", "cause"],
    ),
    vmTerminations: counter(
      "anka_pool_vm_terminations_total",
      "VMs terminated, by class and reason (done, idle, failed, removed).",
      ["class", "reason"],
    ),
    wastedVms: counter(
      "anka_pool_wasted_vms_total",
      "VMs terminated without having run a job (recycled warm VMs, failed starts, agents that never came): the waste figure.",
      ["class"],
    ),
    jobWait: new Histogram({
      name: "anka_pool_job_wait_seconds",
      help: "Time from a job request being queued to an agent of the service taking it (queued to assigned), by class.",
      labelNames: ["class"],
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600],
      registers: [registry],
    }),
    startToOnline: new Histogram({
      name: "anka_pool_vm_start_to_online_seconds",
      help: "Time from a VM's creation on the controller to its agent online, by class.",
      labelNames: ["class"],
      buckets: [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200],
      registers: [registry],
    }),
    passes: counter("anka_pool_reconcile_passes_total", "Reconcile passes, by outcome.", ["outcome"]),
    passSeconds: gauge("anka_pool_reconcile_duration_seconds", "Duration of the last reconcile pass."),
    planCpuSeconds: gauge(
      "anka_pool_plan_cpu_seconds",
      "CPU time of the last pass's planning step (in memory, after the reads).",
    ),
    lastSuccess: gauge(
      "anka_pool_last_success_timestamp_seconds",
      "When the last reconcile pass read the controller and Azure DevOps successfully (Unix time).",
    ),
    consecutiveFailures: gauge(
      "anka_pool_consecutive_failures",
      "Reconcile passes that failed in a row (the loop backs off while this grows).",
    ),
    azdoRateLimit: gauge(
      "anka_pool_azdo_rate_limit",
      "Azure DevOps rate limiting as last seen: X-RateLimit-* headers (remaining, limit, delay_seconds, reset_timestamp_seconds) and answers carrying them (throttled_answers, blocked_answers).",
      ["value"],
    ),
    leaseHeld: gauge(
      "anka_pool_lease_held",
      "1 while this service holds the pool's lease and acts, 0 while another service holds it and this one refuses.",
    ),
    hookRequests: counter(
      "anka_pool_hook_requests_total",
      "Calls to POST /hooks by outcome: accepted (a pass follows at once), unauthorized, too_large, method_not_allowed.",
      ["outcome"],
    ),
    actionFailures: counter(
      "anka_pool_action_failures_total",
      "Terminations, agent removals and placeholder changes that failed, by kind.",
      ["kind"],
    ),
  };
}
