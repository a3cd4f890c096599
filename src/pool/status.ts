import type { RateLimitSnapshot } from "../net/rate-limit.ts";
import type { LogFields, LogLevel, PoolLogger, SecretSet } from "./log.ts";
import type { PassReport } from "./reconciler.ts";

/**
 * What operators see (issue 14 item 6): the service's state as one JSON document (`GET /status`),
 * drawn by the status page (`GET /`, status-page.ts) and printed by `anka-azdo pool status`.
 */

export interface StatusEvent {
  time: string;
  level: LogLevel;
  msg: string;
}

/** The last log lines at info and above, for the page; the log itself stays the full record. */
export class RecentEvents {
  private readonly events: StatusEvent[] = [];

  constructor(
    private readonly secrets: SecretSet,
    private readonly size = 40,
    private readonly now: () => number = Date.now,
  ) {}

  /** A logger that records into this list and then writes through `inner` (already masking secrets). */
  tee(inner: PoolLogger): PoolLogger {
    const record = (level: LogLevel) => (message: string, fields?: LogFields) => {
      inner[level](message, fields);
      if (level === "debug") return;
      this.events.push({ time: new Date(this.now()).toISOString(), level, msg: this.secrets.scrub(message) });
      if (this.events.length > this.size) this.events.shift();
    };
    return {
      ...inner,
      debug: record("debug"),
      info: record("info"),
      warn: record("warn"),
      error: record("error"),
    };
  }

  list(): StatusEvent[] {
    return [...this.events].reverse();
  }
}

export interface ClassStatus {
  name: string;
  queued: number;
  /** starting: start requested, booting or registering; finishing: being terminated. */
  vms: { starting: number; idle: number; busy: number; finishing: number };
}

export interface PoolStatus {
  pool: string;
  time: string;
  health: Record<string, unknown> & { status: string };
  /** Set while another service holds the pool's lease and this one refuses to act. */
  refusedBy?: string;
  lastPass?: {
    durationMs: number;
    planCpuMs: number;
    startsRequested: number;
    terminated: number;
    unmatched: number;
  };
  classes: ClassStatus[];
  rateLimit?: RateLimitSnapshot;
  events: StatusEvent[];
  errors: StatusEvent[];
}

export function classStatuses(report: PassReport | undefined, names: readonly string[]): ClassStatus[] {
  return names.map((name) => {
    const counts = report?.classes[name];
    const phases = counts?.phases;
    return {
      name,
      queued: counts?.queued ?? 0,
      vms: {
        starting: (counts?.pending ?? 0) + (phases?.starting ?? 0) + (phases?.registering ?? 0),
        idle: phases?.idle ?? 0,
        busy: phases?.busy ?? 0,
        finishing: (phases?.done ?? 0) + (phases?.failed ?? 0),
      },
    };
  });
}

/** The terminal form, for `anka-azdo pool status`. */
export function statusText(status: PoolStatus): string {
  const lines = [
    `Pool "${status.pool}": ${status.health.status}${status.refusedBy ? ` (refusing: ${status.refusedBy} holds the pool)` : ""}, at ${status.time}`,
  ];
  if (status.lastPass)
    lines.push(
      `Last pass: ${status.lastPass.durationMs} ms (planning ${status.lastPass.planCpuMs.toFixed(1)} ms CPU), ${status.lastPass.startsRequested} started, ${status.lastPass.terminated} terminated, ${status.lastPass.unmatched} unmatched`,
    );
  const remaining = status.rateLimit?.remaining;
  lines.push(
    `Azure DevOps rate limit: ${remaining === undefined ? "no headers seen (far from the limit)" : `${remaining} of ${status.rateLimit?.limit ?? "?"} remaining`}`,
  );
  const header = ["class", "queued", "starting", "idle", "busy", "finishing"];
  const rows = status.classes.map((c) =>
    [c.name, c.queued, c.vms.starting, c.vms.idle, c.vms.busy, c.vms.finishing].map(String),
  );
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ");
  lines.push("", line(header), ...rows.map(line));
  if (status.errors.length)
    lines.push(
      "",
      "Recent problems:",
      ...status.errors.slice(0, 5).map((e) => `  ${e.time} ${e.level} ${e.msg}`),
    );
  lines.push(
    "",
    "Recent events:",
    ...status.events.slice(0, 10).map((e) => `  ${e.time} ${e.level} ${e.msg}`),
  );
  return `${lines.join("\n")}\n`;
}
