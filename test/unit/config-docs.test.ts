import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CONFIG_PAGE, pageWithReference } from "../../scripts/config-docs.ts";
import { POOL_KEYS, SETTINGS } from "../../src/config/schema.ts";

const page = readFileSync(CONFIG_PAGE, "utf8");

test("docs/configuration.md holds exactly the schema's tables (npm run docs:config rewrites them)", async () => {
  assert.equal(page, await pageWithReference(page), "run npm run docs:config");
});

test("every key has its row with its environment variable, flag and default", () => {
  for (const spec of SETTINGS) {
    const line = page.split("\n").find((text) => text.startsWith(`| \`${spec.file}\` `));
    assert.ok(line, `no row for ${spec.file}`);
    assert.ok(line.includes(`\`${spec.env}\``), `${spec.file}: ${spec.env}`);
    if (spec.flags) assert.ok(line.includes(`\`${spec.flags.split(" ")[0]}\``), `${spec.file}: flag`);
    assert.ok(line.includes(spec.default), `${spec.file}: default`);
  }
  for (const spec of POOL_KEYS) assert.ok(page.includes(`| \`${spec.file}\` `), `no row for ${spec.file}`);
});

test("the CLI and pool service pages link to the one reference", () => {
  for (const name of ["cli.md", "pool-service.md"]) {
    const text = readFileSync(new URL(`../../docs/${name}`, import.meta.url), "utf8");
    assert.match(text, /\]\(configuration\.md(#[a-z-]+)?\)/, `${name} links to configuration.md`);
  }
});
