import { InvalidArgumentError } from "commander";

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  sec: 1_000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Durations as people type them: `90s`, `30m`, `2h`, `1d`, `1h30m`. A bare number means
 * `bareUnit` when one is given (minutes, as the tasks' timeout inputs), and is refused otherwise
 * (cleanup's age, where guessing the unit wrong removes the wrong things).
 */
export function parseDuration(text: string, bareUnit?: "m"): number {
  const trimmed = text.trim().toLowerCase();
  if (bareUnit && /^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * (UNITS[bareUnit] ?? 0));
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d)/g)];
  const rebuilt = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || rebuilt.replace(/\s+/g, "") !== trimmed.replace(/\s+/g, "")) {
    throw new InvalidArgumentError(
      `"${text}" is not a duration: use a number with a unit, e.g. 90s, 30m, 2h, 1d or 1h30m${bareUnit ? " (a bare number means minutes)" : ""}.`,
    );
  }
  const ms = parts.reduce((sum, [, value, unit]) => sum + Number(value) * (UNITS[unit ?? ""] ?? 0), 0);
  return Math.round(ms);
}

/** A commander argument parser for a positive duration. */
export function durationOption(bareUnit?: "m") {
  return (text: string): number => {
    const ms = parseDuration(text, bareUnit);
    if (ms <= 0) throw new InvalidArgumentError(`"${text}" must be longer than zero.`);
    return ms;
  };
}

/** A commander argument parser for a whole number in a range. */
export function integerOption(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text.trim());
    if (!/^\s*-?\d+\s*$/.test(text) || !Number.isInteger(value) || value < min || value > max)
      throw new InvalidArgumentError(`"${text}" must be a whole number from ${min} to ${max}.`);
    return value;
  };
}
