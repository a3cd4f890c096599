// Capability maps: names are case-insensitive (azure-pipelines-agent.md §1), values are strings.

/** System capabilities with user capabilities laid over them; a user entry replaces any casing of its name. */
export function effectiveCapabilities(
  system: Record<string, string>,
  user: Record<string, string>,
): Record<string, string> {
  const merged: Record<string, string> = { ...system };
  for (const [name, value] of Object.entries(user)) {
    for (const key of Object.keys(merged)) if (key.toLowerCase() === name.toLowerCase()) delete merged[key];
    merged[name] = value;
  }
  return merged;
}

/**
 * The same effective map keyed by lower-cased name, for matching many demands against one agent
 * without scanning it per lookup: a system name keeps its first casing's value (as a scan of the
 * merged map would find it), a user entry replaces every casing of its name.
 */
export function capabilityIndex(
  system: Record<string, string>,
  user: Record<string, string>,
): Map<string, string> {
  const index = new Map<string, string>();
  for (const [name, value] of Object.entries(system)) {
    const key = name.toLowerCase();
    if (!index.has(key)) index.set(key, value);
  }
  for (const [name, value] of Object.entries(user)) index.set(name.toLowerCase(), value);
  return index;
}

/** A JSON object of string values, or undefined when the input is not an object. Non-strings become strings. */
export function toCapabilityMap(value: unknown): Record<string, string> | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const map: Record<string, string> = {};
  for (const [name, entry] of Object.entries(value)) map[name] = entry === null ? "" : String(entry);
  return map;
}
