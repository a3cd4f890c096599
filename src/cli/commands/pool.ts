import type { Command } from "commander";
import { poolServe } from "../../pool/main.ts";
import { statusText, type PoolStatus } from "../../pool/status.ts";
import { ConfigError, ExitCode, ReportedFailure } from "../errors.ts";
import type { Runtime } from "../runtime.ts";

/**
 * `anka-azdo pool serve --config <file> [--once]` (contract §6): the elastic pool service. Its
 * settings are the pool YAML, not the CLI's connection settings; its log is JSON lines on stdout.
 */
export interface PoolServeCommandOptions {
  once?: boolean;
}

export function registerPool(program: Command, runtime: Runtime): void {
  const pool = program.command("pool").description("the elastic pool service (docs/pool-service.md)");
  pool
    .command("serve")
    .description("keep the pool supplied with single-use VMs; --config names the pool YAML")
    .option("--once", "run one reconcile pass and exit (0 when it succeeded)")
    .action(async (options: PoolServeCommandOptions, command: Command) => {
      const configFile = command.optsWithGlobals().config as string | undefined;
      if (!configFile)
        throw new ConfigError(
          "pool serve needs --config <file>: the pool YAML (see deploy/pool.example.yml).",
        );
      runtime.cancellation.stopsOnSignal();
      const code = await poolServe({
        configFile,
        once: options.once,
        env: runtime.env,
        signal: runtime.cancellation.signal,
        // stdout is guarded by the scrubber: secrets are masked here as everywhere in the CLI.
        write: (line) => runtime.output.logLine(line),
      });
      if (code === 2)
        throw new ReportedFailure(
          `the pool configuration in ${configFile} is not valid (see the log line above)`,
          ExitCode.badInput,
        );
      if (code !== 0)
        throw new ReportedFailure("the reconcile pass failed (see the log above)", ExitCode.failure);
    });
  pool
    .command("status")
    .description("what a running pool service is doing: its /status, as a table (or --json)")
    .requiredOption(
      "--url <url>",
      "the service's HTTP address (its config's http), e.g. http://127.0.0.1:9464",
    )
    .action(async (options: { url: string }) => {
      let status: PoolStatus;
      const where = `${options.url.replace(/\/+$/, "")}/status`;
      try {
        const answer = await fetch(where, { signal: AbortSignal.timeout(10_000) });
        if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
        status = (await answer.json()) as PoolStatus;
      } catch (error) {
        throw new ReportedFailure(
          `cannot read the pool service's status at ${where}: ${(error as Error).message}. Is the service running with http in its config, and is --url its address?`,
          ExitCode.failure,
        );
      }
      runtime.output.result(() => statusText(status).trimEnd().split("\n"), status);
    });
}
