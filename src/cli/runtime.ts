import type { Command } from "commander";
import { openConnection, type OpenedConnection } from "../core/index.ts";
import type { Cancellation } from "./cancel.ts";
import { loadConfig, type CommandNeeds, type LoadedConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import type { Output } from "./output.ts";
import type { SecretScrubber } from "./secrets.ts";

/** What every command gets: where to print, the secret set, cancellation, and the process's surroundings. */
export interface Runtime {
  output: Output;
  scrubber: SecretScrubber;
  cancellation: Cancellation;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
}

/** Reads the settings for a command (flags > env > config file) and masks their secrets at once. */
export function settingsFor(command: Command, runtime: Runtime, needs: CommandNeeds = {}): LoadedConfig {
  const loaded = loadConfig({
    flags: command.optsWithGlobals(),
    env: runtime.env,
    cwd: runtime.cwd,
    home: runtime.home,
    needs,
  });
  for (const secret of loaded.secrets) runtime.scrubber.register(secret);
  for (const warning of loaded.warnings) runtime.output.warn(warning);
  if (loaded.configFile) runtime.output.log.debug(`Using config file ${loaded.configFile}`);
  return loaded;
}

/** Settings, then both clients. A setting the clients refuse (a CA that is not PEM) is bad input. */
export function connect(
  command: Command,
  runtime: Runtime,
  needs: CommandNeeds = {},
): { settings: LoadedConfig; connection: OpenedConnection } {
  const settings = settingsFor(command, runtime, needs);
  try {
    const connection = openConnection(settings.connection, runtime.output.log, runtime.scrubber.register);
    return { settings, connection };
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}
