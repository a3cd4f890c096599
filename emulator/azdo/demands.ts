// Job demands against agent capabilities. azure-devops.md §6.3: YAML demands are "exists" (`Name`)
// and "equals" (`Name -equals value`, case-insensitive); job requests also carry the implicit
// `Agent.Version -gtVersion x` (startup-scripts-and-job-requests.md B4), so minimum versions are
// understood too. Capability names match case-insensitively (B4 [I]; the agent keeps capabilities
// in a case-insensitive dictionary, azure-pipelines-agent.md §1).

export type Demand =
  | { kind: "exists"; name: string }
  | { kind: "equals"; name: string; value: string }
  | { kind: "minVersion"; name: string; value: string };

const OPERATORS = [
  { keyword: " -equals ", kind: "equals" },
  { keyword: " -gtVersion ", kind: "minVersion" },
] as const;

export function parseDemand(text: string): Demand {
  const lower = text.toLowerCase();
  for (const { keyword, kind } of OPERATORS) {
    const at = lower.indexOf(keyword.toLowerCase());
    if (at > 0) {
      return { kind, name: text.slice(0, at).trim(), value: text.slice(at + keyword.length).trim() };
    }
  }
  return { kind: "exists", name: text.trim() };
}

/** Demands may arrive as strings or as `{name, value}` objects (B4: parse both). */
export function demandText(demand: unknown): string {
  if (typeof demand === "string") return demand;
  if (demand && typeof demand === "object" && "name" in demand) {
    const { name, value } = demand as { name: unknown; value?: unknown };
    return value === undefined || value === null || value === ""
      ? String(name)
      : `${String(name)} -equals ${String(value)}`;
  }
  throw new Error(`Not a demand: ${JSON.stringify(demand)}`);
}

export function lookupCapability(capabilities: Record<string, string>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(capabilities)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

export function satisfies(capabilities: Record<string, string>, demand: Demand): boolean {
  return valueSatisfies(lookupCapability(capabilities, demand.name), demand);
}

/** Against a capability index (capabilities.ts `capabilityIndex`: lower-cased names), demands parsed once. */
export function satisfiesAllIndexed(index: ReadonlyMap<string, string>, demands: readonly Demand[]): boolean {
  return demands.every((demand) => valueSatisfies(index.get(demand.name.toLowerCase()), demand));
}

function valueSatisfies(value: string | undefined, demand: Demand): boolean {
  if (value === undefined) return false;
  switch (demand.kind) {
    case "exists":
      return true;
    case "equals":
      return value.toLowerCase() === demand.value.toLowerCase();
    case "minVersion":
      return compareVersions(value, demand.value) >= 0;
  }
}

export function satisfiesAll(capabilities: Record<string, string>, demands: readonly string[]): boolean {
  return demands.every((text) => satisfies(capabilities, parseDemand(text)));
}

function compareVersions(left: string, right: string): number {
  const a = left.split(".").map((part) => Number.parseInt(part, 10) || 0);
  const b = right.split(".").map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
