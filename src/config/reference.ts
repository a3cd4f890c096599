import { POOL_KEYS, SETTINGS } from "./schema.ts";

/**
 * The key tables of docs/configuration.md, from the schema. scripts/config-docs.ts writes them
 * into the page; test/unit/config-docs.test.ts fails when the page and the schema differ.
 */
export const REFERENCE_BEGIN = "<!-- BEGIN generated from src/config/schema.ts by `npm run docs:config` -->";
export const REFERENCE_END = "<!-- END generated -->";

export function renderConfigReference(): string {
  const code = (text: string) => `\`${text}\``;
  const shared = SETTINGS.map((spec) =>
    row([
      code(spec.file),
      code(spec.env),
      spec.flags ? code(spec.flags.split(" ")[0] as string) : "-",
      value(spec.default),
      `${spec.description}${spec.secret ? " (secret: `${ENV}` only in a pool file)" : ""}`,
    ]),
  );
  const pool = POOL_KEYS.map((spec) => row([code(spec.file), value(spec.default), spec.description]));
  return [
    "### Shared by the CLI and the pool service",
    "",
    row(["file key", "environment (CLI)", "flag (CLI)", "default", "meaning"]),
    row(["---", "---", "---", "---", "---"]),
    ...shared,
    "",
    "### Pool service only (the CLI ignores these sections)",
    "",
    row(["file key", "default", "meaning"]),
    row(["---", "---", "---"]),
    ...pool,
  ].join("\n");
}

/** Defaults that are values (`10`, `$HOME/azp-agent`) as code; words (required, none) as words. */
function value(text: string): string {
  return /^(required|none|latest|all four|built-in|system CAs|the VM's logged-in user|asked from Azure DevOps|template's)$/.test(
    text,
  )
    ? text
    : `\`${text}\``;
}

function row(cells: string[]): string {
  return `| ${cells.map((cell) => cell.replaceAll("|", "\\|")).join(" | ")} |`;
}
