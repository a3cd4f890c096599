import type { Logger, SecretRegistry } from "../core/index.ts";
import type { PoolLogLevel } from "./config.ts";

/**
 * Structured logs: one JSON object per line (`time`, `level`, `msg`, then fields), for journald,
 * launchd's log files and any log shipper. Every registered secret is replaced by `***` before a
 * line is written. It is also the core's `Logger`, so the shared flows log through it.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface PoolLogger extends Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
export const MASK = "***";

/** The secrets to mask, longest first so a secret containing another is masked whole. */
export class SecretSet {
  /** Each secret with how many registrations hold it (see `release`). */
  private readonly values = new Map<string, number>();
  private ordered: string[] = [];

  readonly register: SecretRegistry = (value) => {
    if (typeof value !== "string" || value.trim().length < 3) return;
    const held = this.values.get(value) ?? 0;
    this.values.set(value, held + 1);
    if (held === 0) this.order();
  };

  /**
   * Gives back one registration of each value. For the secrets of one VM start (its encoded
   * startup script, about 14 KB, and a pre-registered agent's key), which the service never
   * handles again once the start request has settled: kept for good, they were the service's
   * memory growing with every VM it ever started (2,000 VMs in the fleet bench: 28 MB of scripts).
   */
  release(values: Iterable<string>): void {
    let changed = false;
    for (const value of values) {
      const held = this.values.get(value);
      if (held === undefined) continue;
      if (held > 1) this.values.set(value, held - 1);
      else changed = this.values.delete(value);
    }
    if (changed) this.order();
  }

  private order(): void {
    this.ordered = [...this.values.keys()].sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let result = text;
    for (const secret of this.ordered) if (result.includes(secret)) result = result.split(secret).join(MASK);
    return result;
  }
}

export interface JsonLoggerOptions {
  level?: PoolLogLevel;
  /** Receives each line without its newline. */
  write: (line: string) => void;
  secrets?: SecretSet;
  now?: () => number;
}

export function createJsonLogger(options: JsonLoggerOptions): PoolLogger {
  const threshold = RANK[options.level ?? "info"];
  const now = options.now ?? Date.now;
  const scrub = (value: unknown): unknown => {
    if (!options.secrets) return value;
    if (typeof value === "string") return options.secrets.scrub(value);
    if (value instanceof Error) return options.secrets.scrub(value.message);
    if (Array.isArray(value)) return value.map(scrub);
    if (value && typeof value === "object")
      return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, scrub(entry)]));
    return value;
  };
  const emit =
    (level: LogLevel) =>
    (message: string, fields: LogFields = {}) => {
      if (RANK[level] < threshold) return;
      const line = {
        time: new Date(now()).toISOString(),
        level,
        msg: scrub(message),
        ...(scrub(fields) as LogFields),
      };
      options.write(JSON.stringify(line));
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

export const silentPoolLogger: PoolLogger = { debug() {}, info() {}, warn() {}, error() {} };
