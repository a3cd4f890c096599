import type { Command } from "commander";
import { listTemplatesWithTags, type TemplateRow } from "../../core/index.ts";
import { abortable } from "../cancel.ts";
import { table, type Colors } from "../output.ts";
import { connect, type Runtime } from "../runtime.ts";

/** `anka-azdo templates`: the registry's templates with their tags. Needs only the controller settings. */
export type TemplatesOptions = Record<string, never>;

export function registerTemplates(program: Command, runtime: Runtime): void {
  program
    .command("templates")
    .description("list the templates in the controller's registry: names, UUIDs, tags, architecture")
    .action(async (_options: TemplatesOptions, command: Command) => {
      const rows = await runTemplates(command, runtime);
      runtime.output.result(() => renderTemplates(rows, runtime.output.out), { templates: rows });
    });
}

export async function runTemplates(command: Command, runtime: Runtime): Promise<TemplateRow[]> {
  const { connection } = connect(command, runtime, { azureDevOps: false });
  try {
    runtime.output.progress("Listing templates");
    return await abortable(listTemplatesWithTags(connection.anka), runtime.cancellation.signal);
  } finally {
    connection.close();
  }
}

export function renderTemplates(rows: TemplateRow[], colors: Colors): string[] {
  if (rows.length === 0) return ["The registry has no templates."];
  return table(
    ["NAME", "UUID", "ARCH", "TAGS (newest first)"],
    rows.map((row) => [row.name, row.id, row.arch ?? "", row.tags.join(", ")]),
    colors,
  );
}
