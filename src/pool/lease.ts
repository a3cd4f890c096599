import { hostname } from "node:os";
import path from "node:path";
import type { Agent } from "../azdo/index.ts";
import { isPlaceholderName } from "./identity.ts";

/**
 * One service per pool (issue 14 item 9). Two services on one pool would both start VMs for the
 * same jobs, so each records a lease on a placeholder agent's user capabilities (the agents list it
 * reads every pass anyway, so checking costs no request) and renews it at half its life. A service
 * that finds a live lease older than its own refuses to act and says why; when the holder stops
 * renewing, the lease lapses and the waiting service takes over, so a second deployment is harmless
 * and doubles as a warm standby.
 *
 * Two services that start at the same moment may both write a lease; the next pass settles it: the
 * older lease (then the smaller holder id) wins and the other refuses. Until a placeholder exists
 * (the very first pass on a pool) nothing can be leased, and nothing needs a VM either: Azure
 * DevOps rejects jobs that no agent could serve.
 */
export const LEASE_CAPABILITY = "anka-pool-lease";

export interface Lease {
  holder: string;
  /** When the holder first took the lease: the older one wins. */
  since: number;
  until: number;
}

/**
 * The deployment, not the process: the host and the config file. A service restarted after a
 * crash resumes its own lease at once; another host, or another config file for the same pool, is
 * a second service.
 */
export function leaseHolderFor(configSource: string): string {
  return `${hostname()}:${encodeURIComponent(path.resolve(configSource))}`;
}

export function leaseDurationMs(pollMs: number): number {
  return Math.max(10 * pollMs, 5_000);
}

export function formatLease(lease: Lease): string {
  return `holder=${lease.holder} since=${new Date(lease.since).toISOString()} until=${new Date(lease.until).toISOString()}`;
}

export function parseLease(text: string | undefined): Lease | undefined {
  const match = /^holder=(\S+) since=(\S+) until=(\S+)$/.exec(text ?? "");
  if (!match) return undefined;
  const since = Date.parse(match[2] as string);
  const until = Date.parse(match[3] as string);
  if (!Number.isFinite(since) || !Number.isFinite(until)) return undefined;
  return { holder: match[1] as string, since, until };
}

export function leaseOf(agent: Agent): Lease | undefined {
  const entry = Object.entries(agent.userCapabilities).find(
    ([name]) => name.toLowerCase() === LEASE_CAPABILITY,
  );
  return parseLease(entry?.[1]);
}

export type LeaseVerdict =
  { kind: "act"; mine?: { agent: Agent; lease: Lease } } | { kind: "refuse"; holder: Lease };

/** Whether this service may act, from the pool's placeholders as listed this pass. */
export function judgeLease(agents: readonly Agent[], holder: string, now: number): LeaseVerdict {
  let mine: { agent: Agent; lease: Lease } | undefined;
  const others: Lease[] = [];
  for (const agent of agents) {
    if (!isPlaceholderName(agent.name)) continue;
    const lease = leaseOf(agent);
    if (!lease) continue;
    if (lease.holder === holder) mine = { agent, lease };
    else if (lease.until > now) others.push(lease);
  }
  const beats = (a: Lease, b: Lease) => a.since < b.since || (a.since === b.since && a.holder < b.holder);
  const winner = others.find((other) => !mine || beats(other, mine.lease));
  return winner ? { kind: "refuse", holder: winner } : { kind: "act", ...(mine ? { mine } : {}) };
}

/** A placeholder's capabilities without the lease, for comparing with what its class advertises. */
export function withoutLease(capabilities: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(capabilities).filter(([name]) => name.toLowerCase() !== LEASE_CAPABILITY),
  );
}
