/**
 * `npm run docs:config`: writes the key tables of docs/configuration.md from the schema
 * (src/config/schema.ts), formatted as prettier formats the page. The unit test
 * test/unit/config-docs.test.ts compares the page with `pageWithReference`, so they cannot drift.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { REFERENCE_BEGIN, REFERENCE_END, renderConfigReference } from "../src/config/reference.ts";

export const CONFIG_PAGE = fileURLToPath(new URL("../docs/configuration.md", import.meta.url));

/** The page with its generated section replaced by the schema's tables. */
export async function pageWithReference(page: string): Promise<string> {
  const begin = page.indexOf(REFERENCE_BEGIN);
  const end = page.indexOf(REFERENCE_END);
  if (begin < 0 || end < begin)
    throw new Error(`${CONFIG_PAGE} lacks the markers ${REFERENCE_BEGIN} ... ${REFERENCE_END}`);
  const generated = `${page.slice(0, begin + REFERENCE_BEGIN.length)}\n\n${renderConfigReference()}\n\n${page.slice(end)}`;
  const options = (await resolveConfig(CONFIG_PAGE)) ?? {};
  return format(generated, { ...options, filepath: CONFIG_PAGE });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(CONFIG_PAGE, await pageWithReference(readFileSync(CONFIG_PAGE, "utf8")));
  process.stdout.write(`Wrote ${path.relative(process.cwd(), CONFIG_PAGE)}\n`);
}
