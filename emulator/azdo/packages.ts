// Agent packages API (azure-pipelines-agent.md §7): metadata with `version` as an object and
// `hashValue` as SHA-256 hex (what the agent checks), `downloadUrl` pointing at this emulator, which
// serves the stand-in agent tarball for every platform.

export const AGENT_PLATFORMS = ["osx-arm64", "osx-x64", "linux-x64"] as const;
/** `agent` is the usual type; `pipelines-agent` builds omit old Node runners (azure-devops.md §6.1). */
export const PACKAGE_TYPES = ["agent", "pipelines-agent"] as const;

export interface AgentTarball {
  path: string;
  sha256: string;
  size: number;
}

export interface PackageQuery {
  type: string;
  platform?: string;
  version?: string;
  top?: number;
}

export function packageFilename(type: string, platform: string, version: string): string {
  const prefix = type === "pipelines-agent" ? "pipelines-agent" : "vsts-agent";
  return `${prefix}-${platform}-${version}.tar.gz`;
}

/** Every file name the download route serves. */
export function servedFilenames(version: string): Set<string> {
  const names = new Set<string>();
  for (const type of PACKAGE_TYPES)
    for (const platform of AGENT_PLATFORMS) names.add(packageFilename(type, platform, version));
  return names;
}

export function listPackages(
  query: PackageQuery,
  context: { version: string; origin: string; tarball: AgentTarball; createdOn: string },
) {
  const [major = 0, minor = 0, patch = 0] = context.version
    .split(".")
    .map((part) => Number.parseInt(part, 10));
  const known = (PACKAGE_TYPES as readonly string[]).includes(query.type.toLowerCase());
  const platforms = AGENT_PLATFORMS.filter(
    (platform) => !query.platform || platform === query.platform.toLowerCase(),
  );
  const versionMatches = !query.version || query.version === context.version;
  const all =
    known && versionMatches
      ? platforms.map((platform) => {
          const filename = packageFilename(query.type.toLowerCase(), platform, context.version);
          return {
            type: query.type.toLowerCase(),
            platform,
            createdOn: context.createdOn,
            version: { major, minor, patch },
            downloadUrl: `${context.origin}/_downloads/${filename}`,
            infoUrl: `https://github.com/microsoft/azure-pipelines-agent/releases/tag/v${context.version}`,
            hashValue: context.tarball.sha256,
            filename,
          };
        })
      : [];
  // One version per platform here, so "newest first" is the order as listed.
  const value = query.top !== undefined && query.top >= 0 ? all.slice(0, query.top) : all;
  return { count: value.length, value };
}
