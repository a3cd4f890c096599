// The emulated cloud's starting contents: controller identity, registry templates, node groups, nodes.
import { readFileSync } from "node:fs";

export interface SeedController {
  /** Shown by GET /api/v1/status (reference §6). */
  version: string;
  registry_address: string;
  license: string;
}

export interface SeedTemplateVersion {
  /** "latest" is the highest number (reference §6). */
  number: number;
  tag: string;
  description: string;
  /** Bytes. */
  size: number;
  cpu_cores: number;
  /** As vminfo shows it, e.g. "8G". */
  ram: string;
  /** RFC3339; vminfo.creation_date shows the template's, not the instance's (see the recorded fixtures). */
  creation_date: string;
  /** Epoch seconds. */
  last_pull: number;
  last_push: number;
}

export interface SeedTemplate {
  id: string;
  name: string;
  arch: "arm64" | "amd64";
  versions: SeedTemplateVersion[];
}

export interface SeedGroup {
  id: string;
  name: string;
  description: string;
  /** Receives the group's requests when all its nodes are full (reference §6). */
  fallback_group_id: string | null;
}

export interface SeedCachedTemplate {
  uuid: string;
  tag: string;
}

export interface SeedAnkaVersion {
  product: string;
  version: string;
  build: string;
  license: string;
  expires: string;
}

export interface SeedNode {
  node_id: string;
  node_name: string;
  ip_address: string;
  host_arch: "arm64" | "amd64";
  /** VM slots (capacity_mode "number"). */
  capacity: number;
  cpu_count: number;
  /** GB. */
  ram: number;
  /** Bytes. */
  disk_size: number;
  anka_version: SeedAnkaVersion;
  /** Group ids. */
  groups: string[];
  /** Template tags already on the node's disk: no pull needed. */
  templates: SeedCachedTemplate[];
}

export interface EmulatorSeed {
  controller: SeedController;
  templates: SeedTemplate[];
  groups: SeedGroup[];
  nodes: SeedNode[];
}

const DEFAULT_SEED_URL = new URL("../data/controller-seed.json", import.meta.url);

export function loadDefaultSeed(): EmulatorSeed {
  return JSON.parse(readFileSync(DEFAULT_SEED_URL, "utf8")) as EmulatorSeed;
}

/**
 * Reads a seed file: either a whole seed or only a templates array (the default seed then supplies the rest).
 * Missing top-level parts of a whole seed also come from the default seed.
 */
export function parseSeed(text: string, source: string): EmulatorSeed {
  const value: unknown = JSON.parse(text);
  if (Array.isArray(value)) return { ...loadDefaultSeed(), templates: value as SeedTemplate[] };
  if (typeof value !== "object" || value === null)
    throw new Error(`${source}: expected a seed object or a templates array`);
  const partial = value as Partial<EmulatorSeed>;
  if (partial.controller && partial.templates && partial.groups && partial.nodes)
    return partial as EmulatorSeed;
  return { ...loadDefaultSeed(), ...partial };
}
