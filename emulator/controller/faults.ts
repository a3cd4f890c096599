// The active fault rules: which request or instance a rule hits next, and how many times it still may.
import { HTTP_FAULT_KINDS, STATE_FAULT_KINDS, type FaultRule, type HttpFaultKind } from "./types.ts";

export type HttpFaultRule = FaultRule & { kind: HttpFaultKind };

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

const KNOWN_KINDS: ReadonlySet<string> = new Set([...HTTP_FAULT_KINDS, ...STATE_FAULT_KINDS]);
const isHttpFault = (rule: FaultRule): rule is HttpFaultRule =>
  (HTTP_FAULT_KINDS as readonly string[]).includes(rule.kind);

export class FaultBook {
  private active: ActiveRule[] = [];

  add(rule: FaultRule): void {
    validateFaultRule(rule);
    const remaining = rule.always ? Infinity : (rule.times ?? 1);
    if (remaining <= 0) return;
    this.active.push({ rule: { ...rule }, remaining });
  }

  clear(): void {
    this.active = [];
  }

  /** Rules still active; `times` shows what is left (null in JSON for unlimited). */
  list(): FaultRule[] {
    return this.active.map(({ rule, remaining }) => ({ ...rule, times: remaining }));
  }

  /** The first HTTP fault rule matching the request, consumed once. */
  takeHttpFault(method: string, path: string): HttpFaultRule | undefined {
    const entry = this.active.find(
      ({ rule }) =>
        isHttpFault(rule) &&
        (rule.method === undefined || rule.method.toUpperCase() === method) &&
        (rule.path === undefined || rule.path === path),
    );
    return entry ? (this.consume(entry) as HttpFaultRule) : undefined;
  }

  /** An "instance-error" rule for an instance about to become Started, consumed once. */
  takeInstanceError(externalId: string | undefined): FaultRule | undefined {
    return this.takeInstanceRule("instance-error", externalId);
  }

  /** Whether a new instance is caught by a "stuck-scheduling" rule (consumed once if so). */
  takeStuckScheduling(externalId: string | undefined): boolean {
    return this.takeInstanceRule("stuck-scheduling", externalId) !== undefined;
  }

  /** "stuck-node" rules stay in force until cleared: they describe a node, not an event. */
  isNodeStuck(nodeId: string): boolean {
    return this.active.some(
      ({ rule }) => rule.kind === "stuck-node" && (rule.nodeId === undefined || rule.nodeId === nodeId),
    );
  }

  private takeInstanceRule(kind: FaultRule["kind"], externalId: string | undefined): FaultRule | undefined {
    const entry = this.active.find(
      ({ rule }) => rule.kind === kind && (rule.externalId === undefined || rule.externalId === externalId),
    );
    return entry ? this.consume(entry) : undefined;
  }

  private consume(entry: ActiveRule): FaultRule {
    entry.remaining--;
    if (entry.remaining <= 0) this.active = this.active.filter((candidate) => candidate !== entry);
    return entry.rule;
  }
}

/** Rejects rules the emulator would silently misread; the admin endpoint reports the message. */
export function validateFaultRule(rule: FaultRule): void {
  if (typeof rule !== "object" || rule === null) throw new Error("a fault rule must be an object");
  if (!KNOWN_KINDS.has(rule.kind)) {
    throw new Error(`unknown fault kind ${JSON.stringify(rule.kind)}; known: ${[...KNOWN_KINDS].join(", ")}`);
  }
  for (const key of ["times", "status", "delayMs"] as const) {
    const value = rule[key];
    if (value !== undefined && (typeof value !== "number" || Number.isNaN(value) || value < 0)) {
      throw new Error(`fault rule field ${key} must be a non-negative number`);
    }
  }
  for (const key of ["method", "path", "body", "message", "externalId", "nodeId"] as const) {
    const value = rule[key];
    if (value !== undefined && typeof value !== "string")
      throw new Error(`fault rule field ${key} must be a string`);
  }
}
