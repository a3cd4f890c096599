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

/** A JSON object of string values, or undefined when the input is not an object. Non-strings become strings. */
export function toCapabilityMap(value: unknown): Record<string, string> | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const map: Record<string, string> = {};
  for (const [name, entry] of Object.entries(value)) map[name] = entry === null ? "" : String(entry);
  return map;
}
