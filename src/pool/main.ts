import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadPoolConfig, PoolConfigError, type Environment } from "./config.ts";
import { createJsonLogger, SecretSet, type PoolLogger } from "./log.ts";
import { reconcileOnce, runPoolService } from "./service.ts";

/**
 * `anka-azdo pool serve --config <file> [--once]` (contract §6), as a function the CLI can call and
 * as a standalone entry: `node --import tsx src/pool/main.ts serve --config pool.yml [--once]`.
 *
 * Exit codes: 0 the service stopped on a signal, or the `--once` pass succeeded; 1 the `--once` pass
 * failed (the controller or Azure DevOps unreachable, a start or removal failed); 2 bad usage or
 * configuration.
 */
export interface PoolServeOptions {
  configFile: string;
  once?: boolean;
  env?: Environment;
  /** Stops the service; main() wires SIGINT and SIGTERM to it. */
  signal?: AbortSignal;
  /** Where log lines go (one JSON object per line, no newline). Default stdout. */
  write?: (line: string) => void;
}

export async function poolServe(options: PoolServeOptions): Promise<number> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const secrets = new SecretSet();
  let log: PoolLogger = createJsonLogger({ write, secrets });
  let config;
  try {
    config = loadPoolConfig(options.configFile, options.env ?? process.env);
  } catch (error) {
    if (!(error instanceof PoolConfigError)) throw error;
    log.error(error.message);
    return 2;
  }
  log = createJsonLogger({ level: config.logLevel, write, secrets });
  if (options.once) {
    try {
      const report = await reconcileOnce(config, { log, secrets });
      return report.ok ? 0 : 1;
    } catch (error) {
      log.error(`Reconcile pass failed: ${(error as Error).message}`);
      return 1;
    }
  }
  await runPoolService(config, { log, secrets, signal: options.signal ?? new AbortController().signal });
  return 0;
}

const USAGE = "usage: anka-azdo pool serve --config <file> [--once]";

/** Parses `serve --config <file> [--once]`; undefined for bad usage. */
export function parsePoolArguments(
  argv: readonly string[],
): { configFile: string; once: boolean } | undefined {
  const [command, ...rest] = argv;
  if (command !== "serve") return undefined;
  let configFile: string | undefined;
  let once = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === "--once") once = true;
    else if (arg === "--config") configFile = rest[++i];
    else if (arg.startsWith("--config=")) configFile = arg.slice("--config=".length);
    else return undefined;
  }
  return configFile ? { configFile, once } : undefined;
}

async function main(): Promise<void> {
  const args = parsePoolArguments(process.argv.slice(2));
  if (!args) {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Error("signal"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.exitCode = await poolServe({ ...args, signal: stop.signal });
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
})();
if (invokedDirectly) await main();
