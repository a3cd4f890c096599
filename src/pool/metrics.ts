/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges and one histogram,
 * with labels. Enough for `/metrics`; no dependency.
 */
type Labels = Record<string, string>;

interface Series {
  labels: Labels;
  value: number;
}

abstract class Metric {
  protected readonly series = new Map<string, Series>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {}

  protected entry(labels: Labels): Series {
    const key = labelText(labels);
    let found = this.series.get(key);
    if (!found) {
      found = { labels: { ...labels }, value: 0 };
      this.series.set(key, found);
    }
    return found;
  }

  value(labels: Labels = {}): number {
    return this.series.get(labelText(labels))?.value ?? 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.series.values())
      lines.push(`${this.name}${labelText(labels)} ${number(value)}`);
    return lines;
  }
}

export class Counter extends Metric {
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }
  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels).value += by;
  }
}

export class Gauge extends Metric {
  constructor(name: string, help: string) {
    super(name, help, "gauge");
  }
  set(labels: Labels, value: number): void {
    this.entry(labels).value = value;
  }
  /** Forget every series (before setting a fresh snapshot, so vanished classes disappear). */
  reset(): void {
    this.series.clear();
  }
}

export class Histogram extends Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  private readonly observed: number[] = [];

  constructor(
    name: string,
    help: string,
    readonly buckets: number[],
  ) {
    super(name, help, "histogram");
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((bound, index) => {
      if (value <= bound) this.counts[index] = (this.counts[index] ?? 0) + 1;
    });
    this.observed.push(value);
    if (this.observed.length > 10_000) this.observed.shift();
  }

  /** The values observed (the latest 10 000), for the benchmark and tests. */
  values(): number[] {
    return [...this.observed];
  }

  override render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((bound, index) =>
      lines.push(`${this.name}_bucket{le="${number(bound)}"} ${this.counts[index] ?? 0}`),
    );
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`);
    lines.push(`${this.name}_sum ${number(this.sum)}`, `${this.name}_count ${this.count}`);
    return lines;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  render(): string {
    return `${this.metrics.flatMap((metric) => metric.render()).join("\n")}\n`;
  }

  private add<T extends Metric>(metric: T): T {
    this.metrics.push(metric);
    return metric;
  }
}

/** Every metric the pool service exposes. */
export class PoolMetrics {
  readonly registry = new Registry();
  readonly queuedJobs = this.registry.gauge(
    "anka_pool_queued_jobs",
    "Job requests waiting for an agent, by the class that serves them.",
  );
  readonly unmatchedJobs = this.registry.gauge(
    "anka_pool_unmatched_jobs",
    "Queued job requests whose demands no class serves.",
  );
  readonly unmatchedJobsTotal = this.registry.counter(
    "anka_pool_unmatched_jobs_total",
    "Job requests reported because no class serves their demands (each counted once).",
  );
  readonly vms = this.registry.gauge(
    "anka_pool_vms",
    "VMs of the service by class and state (starting, registering, idle, busy, done, failed, pending).",
  );
  readonly placeholders = this.registry.gauge(
    "anka_pool_placeholder_agents",
    "Placeholder agents registered in the pool.",
  );
  readonly vmStarts = this.registry.counter(
    "anka_pool_vm_starts_total",
    "VM start requests accepted by the controller.",
  );
  readonly vmStartFailures = this.registry.counter(
    "anka_pool_vm_start_failures_total",
    "VM start requests that failed, and classes whose template could not be resolved.",
  );
  readonly vmTerminations = this.registry.counter(
    "anka_pool_vm_terminations_total",
    "VMs terminated, by class and reason (done, idle, failed, removed).",
  );
  readonly jobWait = this.registry.histogram(
    "anka_pool_job_wait_seconds",
    "Time from a job request being queued to an agent of the service taking it (queued to agent online for a fresh VM).",
    [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600],
  );
  readonly passes = this.registry.counter(
    "anka_pool_reconcile_passes_total",
    "Reconcile passes, by outcome.",
  );
  readonly passSeconds = this.registry.gauge(
    "anka_pool_reconcile_duration_seconds",
    "Duration of the last reconcile pass.",
  );
  readonly lastSuccess = this.registry.gauge(
    "anka_pool_last_success_timestamp_seconds",
    "When the last reconcile pass read the controller and Azure DevOps successfully (Unix time).",
  );
  readonly consecutiveFailures = this.registry.gauge(
    "anka_pool_consecutive_failures",
    "Reconcile passes that failed in a row (the loop backs off while this grows).",
  );
  readonly azdoRateLimit = this.registry.gauge(
    "anka_pool_azdo_rate_limit",
    "Azure DevOps rate limiting as last seen: X-RateLimit-* headers (remaining, limit, delay_seconds, reset_timestamp_seconds) and answers carrying them (throttled_answers, blocked_answers).",
  );
  readonly actionFailures = this.registry.counter(
    "anka_pool_action_failures_total",
    "Terminations, agent removals and placeholder changes that failed, by kind.",
  );
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([key, value]) => `${key}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

function number(value: number): string {
  if (value === Infinity) return "+Inf";
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1e6) / 1e6);
}
