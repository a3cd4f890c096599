import { readFileSync } from "node:fs";
import path from "node:path";
import type { AgentRegistrationMode, ConnectionConfig } from "../core/index.ts";
import { proxyFromEnvironment } from "../net/proxy.ts";
import { controllerAuthFrom } from "./auth.ts";
import { ConfigError } from "./errors.ts";
import { specOf, type SettingKey, type SettingSpec } from "./schema.ts";

export type Source = "flag" | "env" | "file" | "default";

/** The shared settings after precedence (the CLI: flag, env, file; the pool service: its file). */
export interface ResolvedSettings {
  values: Partial<Record<SettingKey, string | boolean>>;
  sources: Partial<Record<SettingKey, Source>>;
  /** Relative file names from the environment or a flag are taken from here. */
  cwd: string;
  /** The config file the `file` values came from. */
  configFile?: string;
  env: NodeJS.ProcessEnv;
  /** `templates` needs no Azure DevOps settings. */
  needsAzureDevOps: boolean;
  /** `agent register|remove` need no controller (absent: needed). */
  needsController?: boolean;
  /** Says how to give a required setting that is missing (the CLI names its flag and variable). */
  missing(spec: SettingSpec): string;
}

/** URLs for commands that never talk to that side (`templates`, `agent`): the clients need one. */
const UNUSED_AZURE_DEVOPS_URL = "https://dev.azure.com/unused-by-this-command";
const UNUSED_CONTROLLER_URL = "https://controller.unused-by-this-command.invalid";

/** The core's connection from the shared settings; every message names where the bad value came from. */
export function connectionFrom(settings: ResolvedSettings): ConnectionConfig {
  const { values, sources } = settings;
  const text = (key: SettingKey): string | undefined => {
    const value = values[key];
    return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
  };
  const required = (key: SettingKey): string => text(key) ?? fail(settings.missing(specOf(key)));
  // Relative paths in the config file are relative to the file; on the command line and in env, to the cwd.
  const fileAt = (key: SettingKey): string | undefined => {
    const name = text(key);
    if (!name) return undefined;
    const fromFile = sources[key] === "file" && settings.configFile;
    const resolved = path.resolve(
      fromFile ? path.dirname(path.resolve(settings.configFile ?? "")) : settings.cwd,
      name,
    );
    try {
      return readFileSync(resolved, "utf8");
    } catch (error) {
      return fail(
        `${origin(settings, key)} names ${resolved}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). ` +
          `Give an existing file${fromFile ? "; a relative path is taken from the config file's folder" : ""}.`,
      );
    }
  };
  const url = (key: SettingKey): string => {
    const value = required(key);
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      const example =
        key === "controllerUrl" ? "https://anka.example.com:8090" : "https://dev.azure.com/contoso";
      return fail(`${origin(settings, key)} "${value}" is not a URL; write it in full, e.g. ${example}.`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
      fail(`${origin(settings, key)} "${value}" must start with https:// or http://.`);
    return value.replace(/\/+$/, "");
  };
  const boolean = (key: SettingKey): boolean => {
    const value = values[key];
    if (typeof value !== "string") return value === true;
    const normal = value.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(normal)) return true;
    if (["false", "0", "no", "off", ""].includes(normal)) return false;
    return fail(`${origin(settings, key)} must be true or false; got "${value}".`);
  };
  const choice = <T extends string>(key: SettingKey): T | undefined => {
    const value = text(key);
    const { choices = [] } = specOf(key);
    if (value === undefined || choices.includes(value)) return value as T | undefined;
    return fail(`${origin(settings, key)} is "${value}"; use ${choices.join(" or ")}.`);
  };

  const needsAzureDevOps = settings.needsAzureDevOps;
  const registration = choice<AgentRegistrationMode>("agentRegistration");
  return {
    controllerUrl:
      settings.needsController === false && !text("controllerUrl")
        ? UNUSED_CONTROLLER_URL
        : url("controllerUrl"),
    auth: controllerAuthFrom({
      method: text("auth"),
      rootToken: text("rootToken"),
      clientCertificate: fileAt("clientCertFile"),
      clientKey: fileAt("clientKeyFile"),
      uakId: text("uakId"),
      uakKey: text("uakKey") ?? fileAt("uakKeyFile"),
    }),
    caCertificate: fileAt("caCertFile"),
    skipTlsVerification: boolean("skipTlsVerification"),
    agent: {
      pool: needsAzureDevOps ? required("pool") : (text("pool") ?? ""),
      azureDevOpsUrl: needsAzureDevOps
        ? url("azureDevOpsUrl")
        : (text("azureDevOpsUrl") ?? UNUSED_AZURE_DEVOPS_URL),
      pat: needsAzureDevOps ? required("pat") : (text("pat") ?? ""),
      agentUser: text("agentUser"),
      agentPath: text("agentPath"),
      agentLogPath: text("agentLogPath"),
      agentProxyUrl: text("agentProxyUrl"),
      agentDownloadUrl: text("agentDownloadUrl"),
      startupScript: fileAt("startupScriptFile"),
      ...(registration ? { registration } : {}),
    },
    // HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as curl and most command-line tools.
    proxyFor: proxyFromEnvironment(settings.env),
  };
}

/** Where a value came from, as the user wrote it: `pool.yml: controller.url`, `AZP_URL`, `--pool`. */
function origin(settings: ResolvedSettings, key: SettingKey): string {
  const spec = specOf(key);
  switch (settings.sources[key]) {
    case "flag":
      return spec.flags?.split(" ")[0] ?? spec.env;
    case "env":
      return spec.env;
    default:
      return `${settings.configFile}: ${spec.file}`;
  }
}

function fail(message: string): never {
  throw new ConfigError(message);
}
