import { readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { ConfigError } from "./errors.ts";
import { POOL_SECTIONS, SETTINGS, type SettingKey, type SettingSpec } from "./schema.ts";

export type Environment = Record<string, string | undefined>;

/** What a config file says: the shared settings by key, and the pool-only sections untouched. */
export interface ConfigDocument {
  /** The file as the user named it, for messages. */
  source: string;
  /** Relative file names in it are taken from here. */
  folder: string;
  values: Partial<Record<SettingKey, string | boolean>>;
  /** Keys of secrets written in clear instead of as `${ENV}` references. */
  literalSecrets: string[];
  /** The top-level mapping, for the pool service's own sections. */
  root: Record<string, unknown>;
  /** A text value of the file with its `${ENV}` references replaced (for the pool-only keys). */
  text(value: unknown, key: string): string;
  fail(key: string, problem: string): never;
}

/** `what` names the file's role in the message when it cannot be read. */
export function readConfigDocument(file: string, env: Environment, what = "config file"): ConfigDocument {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `Cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
    );
  }
  return parseConfigDocument(text, env, file);
}

/**
 * YAML or JSON (JSON is YAML). `${NAME}` takes the environment variable NAME; `$${` is a literal `${`.
 * `${VAR}` is not valid YAML inside a flow mapping (`auth: { rootToken: ${ANKA_ROOT_TOKEN} }`), and
 * substituting values into the text would let a secret's characters change the YAML. So each
 * reference becomes an inert token before parsing and its value is put in afterwards.
 */
export function parseConfigDocument(text: string, env: Environment, source: string): ConfigDocument {
  const references: string[] = [];
  const prepared = text
    .replaceAll("$${", LITERAL_TOKEN)
    .replace(
      /\$\{([^}\n]*)\}/g,
      (_match, name: string) => `${REFERENCE_TOKEN}${references.push(name) - 1}__`,
    );
  function fail(key: string, problem: string): never {
    throw new ConfigError(`${source}: ${key ? `${key} ` : ""}${problem}`);
  }
  const format = source.endsWith(".json") ? "JSON" : "YAML";
  const parsed = parseDocument(prepared, { prettyErrors: true, uniqueKeys: true });
  const first = parsed.errors[0];
  if (first) fail("", `not valid ${format}: ${first.message.split("\n")[0]}`);
  const root: unknown = parsed.toJS() ?? {};
  if (typeof root !== "object" || Array.isArray(root))
    fail("", "must be a mapping (key: value lines) at the top of the file.");

  const textOf = (value: unknown, key: string): string => {
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    if (typeof value !== "string") fail(key, "must be a text value.");
    return value
      .replace(REFERENCE, (_match, index: string) => {
        const name = references[Number(index)] ?? "";
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
          fail(key, `has "\${${name}}", which is not an environment variable reference like \${AZP_TOKEN}.`);
        const found = env[name];
        if (found === undefined || found === "")
          fail(
            key,
            `refers to the environment variable ${name}, which is not set. Export it first ` +
              "(a service: systemd EnvironmentFile=, launchd EnvironmentVariables).",
          );
        return found;
      })
      .replaceAll(LITERAL_TOKEN, "${")
      .trim();
  };

  const document: ConfigDocument = {
    source,
    folder: path.dirname(path.resolve(source)),
    values: {},
    literalSecrets: [],
    root: root as Record<string, unknown>,
    text: textOf,
    fail,
  };
  mappingAt(document, document.root, "", [...(SECTIONS_AT.get("") ?? []), ...POOL_SECTIONS]);
  visit(document, document.root, "");
  return document;
}

const REFERENCE_TOKEN = "__ANKA_ENV_REFERENCE_";
const REFERENCE = /__ANKA_ENV_REFERENCE_(\d+)__/g;

/** Whether a raw value of the file holds a `${ENV}` reference (how a secret must be written in a pool file). */
export function holdsEnvironmentReference(value: unknown): boolean {
  return new RegExp(REFERENCE.source).test(String(value));
}
const LITERAL_TOKEN = "__ANKA_ENV_LITERAL__";

const LEAVES = new Map<string, SettingSpec>(SETTINGS.map((spec) => [spec.file, spec]));
/** Each shared section's keys, from the schema: "" → controller, azureDevOps, agent; "controller" → url, ... */
const SECTIONS_AT = new Map<string, string[]>();
for (const spec of SETTINGS) {
  const parts = spec.file.split(".");
  parts.forEach((part, index) => {
    const parent = parts.slice(0, index).join(".");
    const children = SECTIONS_AT.get(parent) ?? [];
    if (!children.includes(part)) children.push(part);
    SECTIONS_AT.set(parent, children);
  });
}
const AUTH_FORMS = SECTIONS_AT.get("controller.auth") ?? [];

function visit(document: ConfigDocument, node: Record<string, unknown>, prefix: string): void {
  for (const [name, value] of Object.entries(node)) {
    const where = prefix ? `${prefix}.${name}` : name;
    if (value === null || value === undefined || value === "") continue;
    const children = SECTIONS_AT.get(where);
    if (children) {
      if (typeof value === "object" && !Array.isArray(value)) {
        mappingAt(document, value, where, children);
        if (where === "controller.auth") checkAuthForm(document, value as Record<string, unknown>);
        visit(document, value as Record<string, unknown>, where);
        continue;
      }
      // `controller.auth` is also a method name ("none"); every other section must be a mapping.
      if (!LEAVES.has(where)) document.fail(where, "must be a mapping (key: value lines).");
    }
    const spec = LEAVES.get(where);
    if (!spec) continue; // a pool-only section: src/pool/config.ts reads it
    if (spec.kind === "boolean" && typeof value === "boolean") {
      document.values[spec.key] = value;
      continue;
    }
    if (typeof value === "object") document.fail(where, "must be a text value, not a list or mapping.");
    if (spec.secret && !holdsEnvironmentReference(value)) document.literalSecrets.push(where);
    document.values[spec.key] = document.text(value, where);
  }
}

/** A mapping whose keys are all known; unknown keys are typos: name the nearest known one, else list them. */
export function mappingAt(
  document: ConfigDocument,
  value: unknown,
  where: string,
  known: readonly string[],
): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    document.fail(where, "must be a mapping (key: value lines).");
  for (const name of Object.keys(value)) {
    if (known.includes(name)) continue;
    // A shared key written at the top level (the CLI's old `startupScriptFile`) names its section.
    const hint =
      known.find((candidate) => candidate.toLowerCase() === name.toLowerCase()) ??
      (where ? undefined : SETTINGS.find((spec) => spec.file.endsWith(`.${name}`))?.file);
    document.fail(
      where ? `${where}.${name}` : name,
      `is not a known key in ${where || "the top level"}${hint ? `: did you mean ${hint}?` : `. Known keys: ${known.join(", ")}.`}`,
    );
  }
  return value as Record<string, unknown>;
}

function checkAuthForm(document: ConfigDocument, auth: Record<string, unknown>): void {
  const given = AUTH_FORMS.filter((form) => auth[form] !== undefined && auth[form] !== null);
  if (given.length !== 1)
    document.fail(
      "controller.auth",
      `must hold exactly one of rootToken, certificate or uak${given.length ? `; it has ${given.join(" and ")}` : ""}, ` +
        'e.g. "auth: { rootToken: ${ANKA_ROOT_TOKEN} }", or "auth: none" for a controller without authentication.',
    );
  const uak = auth.uak as Record<string, unknown> | undefined;
  if (uak && typeof uak === "object" && (uak.privateKey === undefined) === (uak.keyFile === undefined))
    document.fail(
      "controller.auth.uak",
      "needs exactly one of privateKey (e.g. ${ANKA_UAK_KEY}) or keyFile (a PEM file readable only by its user).",
    );
}
