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
  private readonly values = new Set<string>();
  private ordered: string[] = [];

  readonly register: SecretRegistry = (value) => {
    if (typeof value !== "string" || value.trim().length < 3) return;
    this.values.add(value);
    this.ordered = [...this.values].sort((a, b) => b.length - a.length);
  };

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
