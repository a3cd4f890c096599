/**
 * A setting is missing or wrong, in a flag, an environment variable or a config file. One class for
 * the CLI and the pool service: both exit 2 on it. File messages read `<file>: <key path> <problem
 * and fix>`.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
