import { latestVersion, type AnkaClient, type Template } from "../anka/index.ts";

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

export interface ResolvedTemplate {
  template: Template;
  /** The tag to request; undefined means "latest", which the controller picks. */
  tag: string | undefined;
  /** The tag that "latest" means right now, for the log. */
  effectiveTag: string | undefined;
}

/**
 * Template by UUID, else by name (names are not unique: more than one match is an error that
 * lists the UUIDs); tag must exist on it. Unknown values fail listing what exists, before anything
 * is started.
 */
export async function resolveTemplate(
  client: AnkaClient,
  nameOrId: string,
  tag: string | undefined,
): Promise<ResolvedTemplate> {
  const wanted = nameOrId.trim();
  if (wanted === "")
    throw new InputError(
      "No template given. Set the template input to a template name or UUID from the Anka registry.",
    );
  const summaries = await client.listTemplates();
  const byId = summaries.find((t) => t.id.toLowerCase() === wanted.toLowerCase());
  const byName = summaries.filter((t) => t.name === wanted);
  const match = byId ?? (byName.length === 1 ? byName[0] : undefined);
  if (!match) {
    if (byName.length > 1) {
      throw new InputError(
        `Template name "${wanted}" is used by ${byName.length} templates on ${client.url}: ${byName.map((t) => t.id).join(", ")}. Give the template's UUID instead.`,
      );
    }
    const names = summaries.map((t) => t.name).sort();
    throw new InputError(
      `Template "${wanted}" not found on ${client.url}. ${names.length > 0 ? `Templates there: ${names.join(", ")}` : "The registry has no templates."}`,
    );
  }
  const template = await client.getTemplate(match.id);
  const latest = latestVersion(template)?.tag;
  const wantedTag = tag?.trim() || undefined;
  if (wantedTag !== undefined && !template.versions.some((v) => v.tag === wantedTag)) {
    const tags = [...new Set(template.versions.map((v) => v.tag))];
    throw new InputError(
      `Tag "${wantedTag}" not found on template "${template.name}" (${template.id}). ${tags.length > 0 ? `Tags there: ${tags.join(", ")}` : "It has no tags."}`,
    );
  }
  if (wantedTag === undefined && latest === undefined) {
    throw new InputError(
      `Template "${template.name}" (${template.id}) has no tagged version to start. Push a tag to the registry first.`,
    );
  }
  return {
    template: { ...template, arch: template.arch ?? match.arch },
    tag: wantedTag,
    effectiveTag: wantedTag ?? latest,
  };
}

/** Node group by id or by name (reference §6: groups by name, as the GitLab runner and Jenkins allow). */
export async function resolveNodeGroup(
  client: AnkaClient,
  nameOrId: string | undefined,
): Promise<string | undefined> {
  const wanted = nameOrId?.trim();
  if (!wanted) return undefined;
  const groups = await client.listGroups();
  const group = groups.find((g) => g.id === wanted) ?? groups.find((g) => g.name === wanted);
  if (!group) {
    throw new InputError(
      `Node group "${wanted}" not found on ${client.url}. ${groups.length > 0 ? `Groups there: ${groups.map((g) => g.name).join(", ")}` : "The controller has no node groups."}`,
    );
  }
  return group.id;
}
