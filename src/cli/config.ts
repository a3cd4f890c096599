import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Option } from "commander";
import { parse as parseYaml } from "yaml";
import { keySecretForms, type ConnectionConfig } from "../core/index.ts";
import { proxyFromEnvironment } from "../net/proxy.ts";
import { controllerAuthFrom } from "./controller-auth.ts";
import { ConfigError } from "./errors.ts";

/**
 * The CLI's settings. Each comes from a flag, else an environment variable, else the config file,
 * else its default; `SETTINGS` is the one table that the flags, `--help`, the loader and
 * docs/cli.md follow.
 */
export type SettingKey =
  | "controllerUrl"
  | "auth"
  | "rootToken"
  | "clientCertFile"
  | "clientKeyFile"
  | "uakId"
  | "uakKeyFile"
  | "uakKey"
  | "caCertFile"
  | "skipTlsVerification"
  | "azureDevOpsUrl"
  | "pat"
  | "pool"
  | "agentUser"
  | "agentPath"
  | "agentLogPath"
  | "agentProxyUrl"
  | "agentDownloadUrl"
  | "startupScriptFile";

export interface SettingSpec {
  key: SettingKey;
  /** Commander flags; absent when the setting has no global flag. */
  flags?: string;
  env: string;
  /** Dotted path in the config file. */
  file: string;
  description: string;
  kind: "string" | "boolean" | "url" | "file";
  /** Masked in all output; a warning when given as a flag. */
  secret?: boolean;
}

export const SETTINGS: readonly SettingSpec[] = [
  {
    key: "controllerUrl",
    flags: "--controller-url <url>",
    env: "ANKA_CONTROLLER_URL",
    file: "controller.url",
    description: "Anka Build Cloud Controller URL, e.g. https://anka.example.com:8090",
    kind: "url",
  },
  {
    key: "auth",
    flags: "--auth <method>",
    env: "ANKA_AUTH",
    file: "controller.auth",
    description:
      "controller authentication: none or root-token (default: root-token when a root token is set)",
    kind: "string",
  },
  {
    key: "rootToken",
    flags: "--root-token <token>",
    env: "ANKA_ROOT_TOKEN",
    file: "controller.auth.rootToken",
    description: "the controller's root token (prefer the env variable: flags show in the process list)",
    kind: "string",
    secret: true,
  },
  {
    key: "clientCertFile",
    flags: "--client-cert <file>",
    env: "ANKA_CLIENT_CERT_FILE",
    file: "controller.auth.certificate.certificateFile",
    description: "client certificate (PEM) for certificate authentication (https only)",
    kind: "file",
  },
  {
    key: "clientKeyFile",
    flags: "--client-key <file>",
    env: "ANKA_CLIENT_KEY_FILE",
    file: "controller.auth.certificate.keyFile",
    description: "its unencrypted private key (PEM)",
    kind: "file",
  },
  {
    key: "uakId",
    flags: "--uak-id <id>",
    env: "ANKA_UAK_ID",
    file: "controller.auth.uak.id",
    description: "User API Key id for UAK authentication",
    kind: "string",
  },
  {
    key: "uakKeyFile",
    flags: "--uak-key-file <file>",
    env: "ANKA_UAK_KEY_FILE",
    file: "controller.auth.uak.keyFile",
    description: "the UAK's private key (PEM, or its base64 body)",
    kind: "file",
  },
  {
    key: "uakKey",
    // No flag: a private key on the command line would be in the process list.
    env: "ANKA_UAK_KEY",
    file: "controller.auth.uak.privateKey",
    description: "the UAK's private key itself, instead of a file",
    kind: "string",
    secret: true,
  },
  {
    key: "caCertFile",
    flags: "--ca-cert <file>",
    env: "ANKA_CA_CERT_FILE",
    file: "controller.caCertificate",
    description: "PEM file of the CA that signed the controller's certificate",
    kind: "file",
  },
  {
    key: "skipTlsVerification",
    flags: "--skip-tls-verification",
    env: "ANKA_SKIP_TLS_VERIFICATION",
    file: "controller.skipTlsVerification",
    description: "do not verify the controller's certificate (insecure; warns)",
    kind: "boolean",
  },
  {
    key: "azureDevOpsUrl",
    flags: "--azure-devops-url <url>",
    env: "AZP_URL",
    file: "azureDevOps.url",
    description: "organization URL the agents register with, e.g. https://dev.azure.com/contoso",
    kind: "url",
  },
  {
    key: "pat",
    flags: "--pat <pat>",
    env: "AZP_TOKEN",
    file: "azureDevOps.token",
    description: "PAT with scope Agent Pools (Read & manage) (prefer the env variable)",
    kind: "string",
    secret: true,
  },
  {
    key: "pool",
    flags: "--pool <name>",
    env: "AZP_POOL",
    file: "azureDevOps.pool",
    description: "self-hosted agent pool the VMs' agents join",
    kind: "string",
  },
  {
    key: "agentUser",
    flags: "--agent-user <user>",
    env: "AZP_AGENT_USER",
    file: "agent.user",
    description: "macOS user the agent runs as (default: the VM's logged-in user)",
    kind: "string",
  },
  {
    key: "agentPath",
    flags: "--agent-path <dir>",
    env: "AZP_AGENT_PATH",
    file: "agent.path",
    description: "agent install folder in the VM (default: $HOME/azp-agent)",
    kind: "string",
  },
  {
    key: "agentLogPath",
    flags: "--agent-log-path <dir>",
    env: "AZP_AGENT_LOG_PATH",
    file: "agent.logPath",
    description: "folder for the startup and agent logs in the VM (default: <agent path>/_diag)",
    kind: "string",
  },
  {
    key: "agentProxyUrl",
    flags: "--agent-proxy-url <url>",
    env: "AZP_AGENT_PROXY_URL",
    file: "agent.proxyUrl",
    description: "proxy the agent uses to reach Azure DevOps",
    kind: "string",
  },
  {
    key: "agentDownloadUrl",
    flags: "--agent-download-url <url>",
    env: "AZP_AGENT_DOWNLOAD_URL",
    file: "agent.downloadUrl",
    description: "agent package URL (a mirror for closed networks; default: asked from Azure DevOps)",
    kind: "string",
  },
  {
    key: "startupScriptFile",
    // The connection-level script has no global flag: `start --startup-script-file` overrides it.
    env: "ANKA_STARTUP_SCRIPT_FILE",
    file: "startupScriptFile",
    description: "custom startup script replacing the built-in one, for every start",
    kind: "file",
  },
];

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

export type Source = "flag" | "env" | "file" | "default";

export interface LoadInputs {
  /** Commander's option values (globals included). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  /** Which parts the command needs: `templates` needs no Azure DevOps settings. */
  needsAzureDevOps: boolean;
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

/** Azure DevOps URL for commands that never talk to Azure DevOps (`templates`): the client needs one. */
const UNUSED_AZURE_DEVOPS_URL = "https://dev.azure.com/unused-by-this-command";

export function loadConfig(inputs: LoadInputs): LoadedConfig {
  const file = readConfigFile(inputs);
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
      values[spec.key] = spec.kind === "boolean" ? parseBoolean(fromEnv, spec.env) : fromEnv;
      sources[spec.key] = "env";
    } else if (file?.values[spec.key] !== undefined) {
      values[spec.key] = file.values[spec.key] as string | boolean;
      sources[spec.key] = "file";
    }
    const value = values[spec.key];
    if (spec.secret && typeof value === "string") secrets.push(value);
  }
  if (file) warnings.push(...file.warnings);

  const text = (key: SettingKey): string | undefined => {
    const value = values[key];
    return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
  };
  // Relative paths in the config file are relative to the file; on the command line and in env, to the cwd.
  const fileAt = (key: SettingKey): string | undefined => {
    const name = text(key);
    if (!name) return undefined;
    const base = sources[key] === "file" && file ? path.dirname(file.path) : inputs.cwd;
    const resolved = path.resolve(base, name);
    try {
      return readFileSync(resolved, "utf8");
    } catch (error) {
      throw new ConfigError(
        `Cannot read ${describe(key)} ${resolved}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  };
  const required = (key: SettingKey): string => {
    const value = text(key);
    if (value) return value;
    const spec = specOf(key);
    throw new ConfigError(
      `No ${describe(key)}: give ${spec.flags?.split(" ")[0] ?? "it"}, set ${spec.env}, or set ${spec.file} in the config file.`,
    );
  };

  const connection = assemble();
  // Key material read from files is secret too (the core masks the UAK's; the certificate's is ours).
  if (connection.auth.kind === "certificate") secrets.push(...keySecretForms(connection.auth.privateKey));
  if (connection.auth.kind === "uak") secrets.push(...keySecretForms(connection.auth.privateKey));
  return { connection, configFile: file?.path, sources, warnings, secrets };

  function assemble(): ConnectionConfig {
    const controllerUrl = checkUrl("controllerUrl", required("controllerUrl"));
    const azureDevOpsUrl = inputs.needsAzureDevOps
      ? checkUrl("azureDevOpsUrl", required("azureDevOpsUrl"))
      : (text("azureDevOpsUrl") ?? UNUSED_AZURE_DEVOPS_URL);
    const pat = inputs.needsAzureDevOps ? required("pat") : (text("pat") ?? "");
    const pool = inputs.needsAzureDevOps ? required("pool") : (text("pool") ?? "");
    const skip = values.skipTlsVerification;
    const connection: ConnectionConfig = {
      controllerUrl,
      auth: controllerAuthFrom({
        method: text("auth"),
        rootToken: text("rootToken"),
        clientCertificate: fileAt("clientCertFile"),
        clientKey: fileAt("clientKeyFile"),
        uakId: text("uakId"),
        uakKey: text("uakKey") ?? fileAt("uakKeyFile"),
      }),
      caCertificate: fileAt("caCertFile"),
      skipTlsVerification:
        typeof skip === "string" ? parseBoolean(skip, "skipTlsVerification") : skip === true,
      agent: {
        pool,
        azureDevOpsUrl,
        pat,
        agentUser: text("agentUser"),
        agentPath: text("agentPath"),
        agentLogPath: text("agentLogPath"),
        agentProxyUrl: text("agentProxyUrl"),
        agentDownloadUrl: text("agentDownloadUrl"),
        startupScript: fileAt("startupScriptFile"),
      },
      // HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as curl and most command-line tools.
      proxyFor: proxyFromEnvironment(inputs.env),
    };
    return connection;
  }
}

function specOf(key: SettingKey): SettingSpec {
  return SETTINGS.find((spec) => spec.key === key) as SettingSpec;
}

function describe(key: SettingKey): string {
  return (
    (
      {
        controllerUrl: "Anka controller URL",
        azureDevOpsUrl: "Azure DevOps organization URL",
        pat: "Azure DevOps PAT",
        pool: "agent pool",
        caCertFile: "CA certificate file",
        startupScriptFile: "startup script file",
      } as Partial<Record<SettingKey, string>>
    )[key] ?? key
  );
}

function checkUrl(key: SettingKey, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      `The ${describe(key)} "${value}" is not a URL: give e.g. ${key === "controllerUrl" ? "https://anka.example.com:8090" : "https://dev.azure.com/contoso"}.`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(`The ${describe(key)} "${value}" must start with https:// (or http://).`);
  return value;
}

function parseBoolean(value: string, name: string): boolean {
  const normal = value.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(normal)) return true;
  if (["false", "0", "no", "off", ""].includes(normal)) return false;
  throw new ConfigError(`${name} must be true or false; got "${value}".`);
}

interface ConfigFile {
  path: string;
  values: Partial<Record<SettingKey, string | boolean>>;
  warnings: string[];
}

function readConfigFile(inputs: LoadInputs): ConfigFile | undefined {
  const explicit = (inputs.flags.config as string | undefined) ?? (inputs.env[CONFIG_ENV] || undefined);
  let file: string | undefined;
  if (explicit) {
    file = path.resolve(inputs.cwd, explicit);
    if (!existsSync(file)) throw new ConfigError(`Config file ${file} does not exist.`);
  } else {
    file = defaultConfigFiles(inputs.cwd, inputs.env, inputs.home).find((candidate) => existsSync(candidate));
    if (!file) return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `Cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const name = path.basename(file);
  let document: unknown;
  try {
    document = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (error) {
    const first = ((error as Error).message ?? String(error)).split("\n")[0];
    throw new ConfigError(
      `Config file ${file} is not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${first}`,
    );
  }
  if (document === null || document === undefined) document = {};
  if (typeof document !== "object" || Array.isArray(document))
    throw new ConfigError(
      `Config file ${file} must hold an object (keys controller, azureDevOps, agent); see docs/cli.md.`,
    );

  const values: Partial<Record<SettingKey, string | boolean>> = {};
  const warnings: string[] = [];
  const literalSecrets: string[] = [];
  const known = new Map(SETTINGS.map((spec) => [spec.file, spec]));
  const visit = (node: Record<string, unknown>, prefix: string) => {
    for (const [key, value] of Object.entries(node)) {
      // YAML reads `id: 12345` as a number: a string setting takes it as text.
      const raw =
        typeof value === "number" && known.get(prefix ? `${prefix}.${key}` : key)?.kind === "string"
          ? String(value)
          : value;
      const where = prefix ? `${prefix}.${key}` : key;
      if (raw !== null && typeof raw === "object" && !Array.isArray(raw) && SECTIONS.has(where)) {
        visit(raw as Record<string, unknown>, where);
        continue;
      }
      const spec = known.get(where);
      if (spec) {
        if (spec.kind === "boolean") {
          if (typeof raw !== "boolean" && typeof raw !== "string")
            throw new ConfigError(`${name}: ${where} must be true or false.`);
          values[spec.key] =
            typeof raw === "boolean"
              ? raw
              : parseBoolean(expand(raw, where, name, inputs.env), `${name}: ${where}`);
        } else {
          if (typeof raw !== "string") throw new ConfigError(`${name}: ${where} must be a string.`);
          values[spec.key] = expand(raw, where, name, inputs.env);
          if (spec.secret && !/\$\{/.test(raw)) literalSecrets.push(where);
        }
        continue;
      }
      throw new ConfigError(
        `${name}: unknown setting "${where}". Known settings: ${[...known.keys()].join(", ")}.`,
      );
    }
  };
  visit(document as Record<string, unknown>, "");

  if (literalSecrets.length > 0 && process.platform !== "win32") {
    const mode = statSync(file).mode;
    if (mode & 0o077)
      warnings.push(
        `${file} holds ${literalSecrets.join(" and ")} in clear and other users may read it: chmod 600 ${file}, or write \${ENV_VAR} references instead.`,
      );
  }
  return { path: file, values, warnings };
}

/** Objects in the file; `controller.auth` is also a string ("none") when it is no object. */
const SECTIONS = new Set([
  "controller",
  "controller.auth",
  "controller.auth.certificate",
  "controller.auth.uak",
  "azureDevOps",
  "agent",
]);

/** `${NAME}` takes the environment variable NAME (so secrets need not be in the file); `$${` is a literal `${`. */
function expand(value: string, where: string, file: string, env: NodeJS.ProcessEnv): string {
  return value.replace(
    /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}/g,
    (whole, escaped: string | undefined, name: string) => {
      if (escaped) return whole.slice(1);
      const found = env[name];
      if (found === undefined || found === "")
        throw new ConfigError(
          `${file}: ${where} refers to \${${name}}, which is not set in the environment.`,
        );
      return found;
    },
  );
}
