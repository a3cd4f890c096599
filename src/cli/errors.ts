import { CommanderError } from "commander";
import { ConfigError } from "../config/errors.ts";
import { InstanceWaitTimeoutError } from "../anka/index.ts";
import { AgentWaitTimeoutError, InputError, StartCancelledError } from "../core/index.ts";

/** The exit codes `anka-azdo` documents (docs/cli.md). */
export const ExitCode = {
  ok: 0,
  /** Something failed: the controller or Azure DevOps refused, a VM failed, a doctor check failed. */
  failure: 1,
  /** Bad input: unknown flag, missing value, bad config file, unknown template, bad duration. */
  badInput: 2,
  /** A wait ran out: the instance was not Started, or its agent not online, in time. */
  timeout: 3,
  /** Cancelled by SIGINT or SIGTERM (after rolling back what was started). */
  cancelled: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export { ConfigError };

/** The command ran, and its result is a failure it already reported (doctor's failed checks). */
export class ReportedFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.failure,
  ) {
    super(message);
    this.name = "ReportedFailure";
  }
}

export function exitCodeFor(error: unknown, cancelled: boolean): ExitCode {
  if (cancelled || error instanceof StartCancelledError) return ExitCode.cancelled;
  if (error instanceof ReportedFailure) return error.exitCode;
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
  if (error instanceof ConfigError || error instanceof InputError) return ExitCode.badInput;
  if (error instanceof InstanceWaitTimeoutError || error instanceof AgentWaitTimeoutError)
    return ExitCode.timeout;
  return ExitCode.failure;
}

/** Short, stable names for the JSON error document. */
export function errorKind(code: ExitCode): string {
  switch (code) {
    case ExitCode.badInput:
      return "bad-input";
    case ExitCode.timeout:
      return "timeout";
    case ExitCode.cancelled:
      return "cancelled";
    default:
      return "failure";
  }
}
