// Faults injected at the HTTP level: an error status, a reset connection, or a delay before handling.
import type { FaultRule } from "./types.ts";

export class FaultBook {
  private rules: { rule: FaultRule; remaining: number }[] = [];

  add(rule: FaultRule): void {
    this.rules.push({ rule, remaining: rule.times ?? 1 });
  }

  clear(): void {
    this.rules = [];
  }

  /** The first rule matching the request, counted as used; undefined when none applies. */
  take(method: string, path: string): FaultRule | undefined {
    const entry = this.rules.find(
      ({ rule, remaining }) =>
        remaining > 0 &&
        (!rule.method || rule.method.toUpperCase() === method.toUpperCase()) &&
        (!rule.pathIncludes || path.includes(rule.pathIncludes)),
    );
    if (!entry) return undefined;
    entry.remaining -= 1;
    this.rules = this.rules.filter(({ remaining }) => remaining > 0);
    return entry.rule;
  }
}
