import { CLASS_CAPABILITIES, type PoolClassConfig } from "./config.ts";

/**
 * Which class serves a job (contract §6): a job is served by a class when each of its demands on
 * the class capabilities (`anka-class`, `anka-template`, `anka-template-id`, `anka-template-tag`)
 * is met by the class's value, names and values compared case-insensitively as Azure DevOps does
 * (reference azure-devops.md §6.3). Demands on other names (`Agent.Version -gtVersion …`, tools the
 * template provides) are the template's business and do not choose a class. The first class in the
 * config that serves a job is the one that starts a VM for it.
 */

export type Demand =
  | { kind: "exists"; name: string }
  | { kind: "equals"; name: string; value: string }
  | { kind: "minVersion"; name: string; value: string };

const OPERATORS = [
  { keyword: " -equals ", kind: "equals" },
  { keyword: " -gtversion ", kind: "minVersion" },
] as const;

export function parseDemand(text: string): Demand {
  const lower = text.toLowerCase();
  for (const { keyword, kind } of OPERATORS) {
    const at = lower.indexOf(keyword);
    if (at > 0)
      return { kind, name: text.slice(0, at).trim(), value: text.slice(at + keyword.length).trim() };
  }
  return { kind: "exists", name: text.trim() };
}

/**
 * Demands that pin a job to one particular agent: a VM started by the Start task
 * (`ANKA_AGENT_IDENTIFIER -equals …`) or a named agent. No pool VM can ever serve those, so the
 * service leaves such jobs alone instead of starting VMs that would never get them.
 */
const PINNING_DEMANDS = new Set(["anka_agent_identifier", "agent.name"]);

const MANAGED = new Set<string>(CLASS_CAPABILITIES);

/** A class as matching needs it: its name and the capability values its agents advertise. */
export interface ClassCapabilities {
  name: string;
  capabilities: Record<string, string>;
}

/** The resolved template a class starts (name and UUID from the registry). */
export interface ResolvedClassTemplate {
  templateName: string;
  templateId: string;
}

/** The capabilities the class's agents and placeholder advertise, as far as the config selects them. */
export function classCapabilities(
  config: PoolClassConfig,
  template: ResolvedClassTemplate,
): Record<string, string> {
  const all: Record<string, string | undefined> = {
    "anka-class": config.name,
    "anka-template": template.templateName,
    "anka-template-id": template.templateId,
    // No tag configured: the controller starts the latest, which changes; the class advertises no tag.
    "anka-template-tag": config.tag,
  };
  const selected: Record<string, string> = {};
  for (const name of config.capabilities) {
    const value = all[name];
    if (value !== undefined && value !== "") selected[name] = value;
  }
  return selected;
}

export type JobVerdict =
  | { kind: "class"; className: string }
  | { kind: "unmatched"; reason: string }
  | { kind: "pinned"; demand: string };

export function judgeJob(demands: readonly string[], classes: readonly ClassCapabilities[]): JobVerdict {
  const parsed = demands.map(parseDemand);
  const pin = parsed.find((demand) => PINNING_DEMANDS.has(demand.name.toLowerCase()));
  if (pin) return { kind: "pinned", demand: demands[parsed.indexOf(pin)] ?? pin.name };
  const ours = parsed.filter((demand) => MANAGED.has(demand.name.toLowerCase()));
  const match = classes.find((entry) => ours.every((demand) => satisfies(entry.capabilities, demand)));
  if (match) return { kind: "class", className: match.name };
  const wanted = demands.filter((_, index) => MANAGED.has(parsed[index]?.name.toLowerCase() ?? ""));
  return {
    kind: "unmatched",
    reason:
      classes.length === 0
        ? "no class is ready (templates not resolved yet)"
        : `no class advertises ${wanted.join(", ")}`,
  };
}

export function satisfies(capabilities: Record<string, string>, demand: Demand): boolean {
  const wanted = demand.name.toLowerCase();
  const entry = Object.entries(capabilities).find(([name]) => name.toLowerCase() === wanted);
  if (!entry) return false;
  const value = entry[1];
  switch (demand.kind) {
    case "exists":
      return true;
    case "equals":
      return value.toLowerCase() === demand.value.toLowerCase();
    case "minVersion":
      return compareVersions(value, demand.value) >= 0;
  }
}

/** Same capabilities, names compared case-insensitively, values exactly. */
export function sameCapabilities(a: Record<string, string>, b: Record<string, string>): boolean {
  const normal = (map: Record<string, string>) =>
    JSON.stringify(
      Object.entries(map)
        .map(([name, value]) => [name.toLowerCase(), value])
        .sort(([x], [y]) => String(x).localeCompare(String(y))),
    );
  return normal(a) === normal(b);
}

export function compareVersions(left: string, right: string): number {
  const a = left.split(".").map((part) => Number.parseInt(part, 10) || 0);
  const b = right.split(".").map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
