// The template registry: lookups for start requests and the GET /api/v1/registry/vm views (reference §2, §6).
import { createHash } from "node:crypto";
import { ApiFailure, badRequest } from "./reply.ts";
import type { SeedTemplate, SeedTemplateVersion } from "./seed.ts";

export interface ResolvedTemplate {
  template: SeedTemplate;
  version: SeedTemplateVersion;
}

export class Registry {
  constructor(
    private readonly templates: SeedTemplate[],
    private readonly nowMs: () => number,
  ) {}

  find(id: string): SeedTemplate | undefined {
    return this.templates.find((template) => template.id === id);
  }

  /** Picks the version a start request asks for; "latest" is the highest version number (reference §6). */
  resolve(vmid: string, tag: string | undefined, versionNumber: number | undefined): ResolvedTemplate {
    const template = this.find(vmid);
    // reference §1: the HTTP code and text a modern controller sends for an unknown template.
    if (!template) throw badRequest("VM not in the registry");
    let version: SeedTemplateVersion | undefined;
    if (versionNumber !== undefined) {
      version = template.versions.find((candidate) => candidate.number === versionNumber);
      if (!version) throw badRequest(`No such version ${versionNumber}`);
      if (tag !== undefined && version.tag !== tag) throw badRequest(`No such tag ${tag}`);
    } else if (tag !== undefined) {
      version = template.versions.find((candidate) => candidate.tag === tag);
      // reference §3: Jenkins and TeamCity match this exact text to retry without a tag.
      if (!version) throw badRequest(`No such tag ${tag}`);
    } else {
      version = latestVersion(template);
    }
    if (!version) throw badRequest(`Template ${vmid} has no versions`);
    return { template, version };
  }

  recordPull(version: SeedTemplateVersion): void {
    version.last_pull = Math.floor(this.nowMs() / 1000);
  }

  /** `?apiVer=v1` is the faster listing without size and arch (reference §2). */
  listView(apiVer: string | null): object[] {
    return this.templates.map((template) => {
      const { last_pull, last_push } = summarize(template);
      if (apiVer === "v1") return { id: template.id, name: template.name, last_pull, last_push };
      return { id: template.id, name: template.name, ...summarize(template) };
    });
  }

  detailView(id: string, notFoundStatus: number): object {
    const template = this.find(id);
    if (!template) throw new ApiFailure(notFoundStatus, "VM not in the registry");
    return {
      id: template.id,
      name: template.name,
      versions: template.versions.map((version) => versionView(template, version)),
      ...summarize(template),
    };
  }
}

export function latestVersion(template: SeedTemplate): SeedTemplateVersion | undefined {
  return template.versions.reduce<SeedTemplateVersion | undefined>(
    (latest, version) => (latest === undefined || version.number > latest.number ? version : latest),
    undefined,
  );
}

function summarize(template: SeedTemplate) {
  const latest = latestVersion(template);
  return {
    size: latest?.size ?? 0,
    arch: template.arch,
    last_pull: Math.max(0, ...template.versions.map((version) => version.last_pull)),
    last_push: Math.max(0, ...template.versions.map((version) => version.last_push)),
  };
}

/** Reference §6 version object; file names are stable fakes derived from the template id. */
function versionView(template: SeedTemplate, version: SeedTemplateVersion) {
  const image = createHash("sha1").update(`${template.id}/${version.number}`).digest("hex").slice(0, 32);
  return {
    number: version.number,
    tag: version.tag,
    description: version.description,
    config_file: `${template.id}.yaml`,
    nvram: "nvram",
    images: [`${image}.ank`],
    state_files: [],
    state_file: "",
    size: version.size,
    arch: template.arch,
    last_pull: version.last_pull,
    last_push: version.last_push,
  };
}
