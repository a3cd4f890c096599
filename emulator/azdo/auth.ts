// Who is calling, and may they? PATs travel as HTTP Basic with any user name and the PAT as password
// (azure-pipelines-agent.md §2 step 2: the agent sends user "VstsAgent"; tasks send ":<pat>").
// Reading pools and agents needs Agent Pools (Read); registering, deleting agents and sessions need
// Manage on the pool (§4 "Scope", azure-devops.md §6.2/§6.5). A listener authenticates as its agent
// with an OAuth access token (agent-credentials.ts) and may only drive its own session and job.
import { createHash } from "node:crypto";
import type { AgentCredentials } from "./agent-credentials.ts";
import { accessDenied } from "./errors.ts";
import type { PoolRecord } from "./records.ts";
import type { TokenConfig } from "./types.ts";

export type Principal =
  | { kind: "user"; id: string; displayName: string; manage: boolean | string[] }
  | { kind: "agent"; id: string; displayName: string; agentId: number; poolId: number };

const DEFAULT_OWNER = "Emulated User";

export function authenticate(
  authorization: string | undefined,
  tokens: readonly TokenConfig[],
  credentials: AgentCredentials,
  now: number,
): Principal | undefined {
  const [scheme = "", value = ""] = (authorization ?? "").trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === "basic") {
    const decoded = Buffer.from(value, "base64").toString();
    const colon = decoded.indexOf(":");
    if (colon < 0) return undefined;
    const pat = decoded.slice(colon + 1);
    const token = tokens.find((candidate) => candidate.token === pat);
    if (!token) return undefined;
    return {
      kind: "user",
      id: stableGuid(token.token),
      displayName: token.owner ?? DEFAULT_OWNER,
      manage: token.manage,
    };
  }
  if (scheme.toLowerCase() === "bearer") {
    const agent = credentials.principalFor(value, now);
    if (!agent) return undefined;
    return {
      kind: "agent",
      id: stableGuid(`agent:${agent.agentId}`),
      displayName: `Agent Pool Service (${agent.poolId})`,
      ...agent,
    };
  }
  return undefined;
}

export function canManage(principal: Principal, pool: PoolRecord): boolean {
  if (principal.kind !== "user") return false;
  if (typeof principal.manage === "boolean") return principal.manage;
  return principal.manage.some((name) => name.toLowerCase() === pool.name.toLowerCase());
}

export function requireManage(principal: Principal, pool: PoolRecord): void {
  if (!canManage(principal, pool)) throw accessDenied(principal.displayName, pool.name);
}

/** Users read every pool; an agent's token reads only its own pool. */
export function requireRead(principal: Principal, pool: PoolRecord): void {
  if (principal.kind === "agent" && principal.poolId !== pool.id)
    throw accessDenied(principal.displayName, pool.name);
}

/** The agent itself (its OAuth token) or a pool manager. */
export function requireAgentOrManage(principal: Principal, pool: PoolRecord, agentId: number): void {
  if (principal.kind === "agent" && principal.agentId === agentId && principal.poolId === pool.id) return;
  requireManage(principal, pool);
}

function stableGuid(seed: string): string {
  const hex = createHash("sha256").update(seed).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
