/**
 * What the core needs from the adapter that runs it (task, CLI, pool service): a place to write
 * lines and a way to mask secrets. Nothing else: no task-lib, no process.env, no console here.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** Registers a value that must never appear in output (task-lib's setSecret in the tasks). */
export type SecretRegistry = (value: string) => void;

export const silentLogger: Logger = { info: () => {}, warn: () => {}, debug: () => {} };
