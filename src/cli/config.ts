import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { Option } from "commander";
import { connectionFrom, type Source } from "../config/connection.ts";
import { readConfigDocument, type ConfigDocument } from "../config/document.ts";
import { ConfigError } from "../config/errors.ts";
import { SETTINGS, type SettingKey, type SettingSpec } from "../config/schema.ts";
import { keySecretForms, type ConnectionConfig } from "../core/index.ts";

/**
 * The CLI's settings (src/config/schema.ts, shared with the pool service). Each comes from a flag,
 * else an environment variable, else the config file, else its default. A pool service file works
 * as the config file: its pool-only sections are ignored here.
 */
export const CONFIG_ENV = "ANKA_AZDO_CONFIG";

/** Looked for in this order when neither --config nor ANKA_AZDO_CONFIG names a file. */
export function defaultConfigFiles(cwd: string, env: NodeJS.ProcessEnv, home: string): string[] {
  const configHome = env.XDG_CONFIG_HOME || path.join(home, ".config");
  return [
    ...["anka-azdo.json", "anka-azdo.yaml", "anka-azdo.yml"].map((name) => path.join(cwd, name)),
    ...["config.json", "config.yaml", "config.yml"].map((name) => path.join(configHome, "anka-azdo", name)),
  ];
}

/** The commander attribute a setting's flag lands in (`--azure-devops-url` → `azureDevopsUrl`). */
export function flagAttribute(spec: SettingSpec): string | undefined {
  return spec.flags ? new Option(spec.flags).attributeName() : undefined;
}

/** What a command talks to; both when not said. */
export interface CommandNeeds {
  azureDevOps?: boolean;
  controller?: boolean;
}

export interface LoadInputs {
  /** Commander's option values (globals included). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  /** Which parts the command needs: `templates` needs no Azure DevOps settings, `agent` no controller. */
  needs: CommandNeeds;
}

export interface LoadedConfig {
  connection: ConnectionConfig;
  configFile?: string;
  sources: Partial<Record<SettingKey, Source>>;
  /** Said once on stderr before the command runs. */
  warnings: string[];
  /** Every secret read, to be masked before anything is printed. */
  secrets: string[];
}

export function loadConfig(inputs: LoadInputs): LoadedConfig {
  const file = findConfigFile(inputs);
  const document = file ? readConfigDocument(file, inputs.env) : undefined;
  const values: Partial<Record<SettingKey, string | boolean>> = {};
  const sources: Partial<Record<SettingKey, Source>> = {};
  const warnings: string[] = [];
  const secrets: string[] = [];

  for (const spec of SETTINGS) {
    const attribute = flagAttribute(spec);
    const fromFlag = attribute ? inputs.flags[attribute] : undefined;
    const fromEnv = inputs.env[spec.env];
    if (fromFlag !== undefined) {
      values[spec.key] = fromFlag as string | boolean;
      sources[spec.key] = "flag";
      if (spec.secret)
        warnings.push(
          `${spec.flags?.split(" ")[0]} puts a secret in the process list and the shell history: set ${spec.env} or ${spec.file} in the config file (as \${${spec.env}}) instead.`,
        );
    } else if (fromEnv !== undefined && fromEnv !== "") {
      values[spec.key] = fromEnv;
      sources[spec.key] = "env";
    } else if (document?.values[spec.key] !== undefined) {
      values[spec.key] = document.values[spec.key];
      sources[spec.key] = "file";
    }
    const value = values[spec.key];
    if (spec.secret && typeof value === "string") secrets.push(value);
  }
  if (document) warnings.push(...looseSecretWarnings(document));

  const connection = connectionFrom({
    values,
    sources,
    cwd: inputs.cwd,
    configFile: file,
    env: inputs.env,
    needsAzureDevOps: inputs.needs.azureDevOps !== false,
    needsController: inputs.needs.controller !== false,
    missing: (spec) =>
      `No ${spec.label ?? spec.file}: give ${spec.flags?.split(" ")[0] ?? "it"}, set ${spec.env}, or set ${spec.file} in the config file.`,
  });
  // Key material read from files is secret too (the core masks the UAK's; the certificate's is ours).
  if (connection.auth.kind === "certificate") secrets.push(...keySecretForms(connection.auth.privateKey));
  if (connection.auth.kind === "uak") secrets.push(...keySecretForms(connection.auth.privateKey));
  return { connection, configFile: file, sources, warnings, secrets };
}

function findConfigFile(inputs: LoadInputs): string | undefined {
  const explicit = (inputs.flags.config as string | undefined) ?? (inputs.env[CONFIG_ENV] || undefined);
  if (!explicit)
    return defaultConfigFiles(inputs.cwd, inputs.env, inputs.home).find((candidate) => existsSync(candidate));
  const file = path.resolve(inputs.cwd, explicit);
  if (!existsSync(file)) throw new ConfigError(`Config file ${file} does not exist.`);
  return file;
}

/** The CLI takes a secret in clear from a private file of one's own; one others may read gets a warning. */
function looseSecretWarnings(document: ConfigDocument): string[] {
  if (document.literalSecrets.length === 0 || process.platform === "win32") return [];
  if ((statSync(document.source).mode & 0o077) === 0) return [];
  const file = document.source;
  return [
    `${file} holds ${document.literalSecrets.join(" and ")} in clear and other users may read it: chmod 600 ${file}, or write \${ENV_VAR} references instead.`,
  ];
}
