import { randomBytes } from "node:crypto";
import type { Instance } from "../anka/index.ts";
import { agentNameFor } from "../bootstrap/index.ts";
import { AGENT_METADATA_KEY, POOL_METADATA_KEY } from "../core/index.ts";
import { POOL_CLASS_METADATA_KEY } from "../core/settings.ts";

/**
 * How the service recognises what it owns, from observable state only (it keeps no state of its
 * own): instances by their metadata, agents by name and capabilities.
 */

/** Instance metadata: the class a pool-service VM belongs to (defined in core: `cleanup` skips such VMs). */
export { POOL_CLASS_METADATA_KEY };
/** Instance metadata: the organization URL, so two organizations' services may share a controller. */
export const POOL_ORG_METADATA_KEY = "anka_pool_org";
/** Placeholder agents are named `anka-placeholder-<class>` (the class name "placeholder" is reserved). */
export const PLACEHOLDER_PREFIX = "anka-placeholder-";
/** The capability every agent of the service carries (cleanup in src/core leaves such agents alone). */
export const CLASS_CAPABILITY = "anka-class";

export function placeholderName(className: string): string {
  return `${PLACEHOLDER_PREFIX}${className}`;
}

export function isPlaceholderName(name: string): boolean {
  return name.toLowerCase().startsWith(PLACEHOLDER_PREFIX);
}

export interface VmIdentity {
  /** Value of the agent's ANKA_AGENT_IDENTIFIER capability: `<class>-<8 hex>`. */
  agentIdentifier: string;
  /** `anka-<class>-<8 hex>`. */
  agentName: string;
  /** `pool:<pool>:<class>:<8 hex>`, for people reading the controller's UI. */
  externalId: string;
}

export function newVmIdentity(pool: string, className: string): VmIdentity {
  const suffix = randomBytes(4).toString("hex");
  const agentIdentifier = `${className}-${suffix}`;
  return {
    agentIdentifier,
    agentName: agentNameFor(agentIdentifier),
    externalId: `pool:${pool}:${className}:${suffix}`,
  };
}

/** The class of an instance this service (for this organization and pool) started; undefined otherwise. */
export function poolClassOf(instance: Instance, pool: string, organizationUrl: string): string | undefined {
  const metadata = instance.metadata ?? {};
  const className = metadata[POOL_CLASS_METADATA_KEY];
  if (typeof className !== "string" || className === "") return undefined;
  const instancePool = metadata[POOL_METADATA_KEY];
  if (typeof instancePool !== "string" || instancePool.toLowerCase() !== pool.toLowerCase()) return undefined;
  const org = metadata[POOL_ORG_METADATA_KEY];
  if (typeof org === "string" && normalUrl(org) !== normalUrl(organizationUrl)) return undefined;
  return className;
}

/** The agent name the instance's startup script registers. */
export function agentNameOfInstance(instance: Instance): string | undefined {
  const name = instance.metadata?.[AGENT_METADATA_KEY];
  return typeof name === "string" && name !== "" ? name : instance.name;
}

const normalUrl = (url: string) => url.replace(/\/+$/, "").toLowerCase();
