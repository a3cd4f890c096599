import { AGENT_REGISTRATION_MODES } from "../core/settings.ts";
/**
 * The one configuration schema of the CLI and the pool service. The `controller`, `azureDevOps`
 * and `agent` sections mean the same everywhere; the pool file adds the sections in POOL_KEYS,
 * which the CLI ignores (so a pool file works as the CLI's `--config`). Adding a setting is one
 * entry here plus its behaviour; docs/configuration.md is checked against these tables by a test
 * (test/unit/config-docs.test.ts).
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
  | "agentRegistration"
  | "startupScriptFile";

export interface SettingSpec {
  key: SettingKey;
  /** Commander flags; absent when the setting has no global flag. */
  flags?: string;
  env: string;
  /** Dotted path in the config file. */
  file: string;
  description: string;
  /** `choice`: one of `choices`. `file`: a path, read relative to the config file when set there. */
  kind: "string" | "boolean" | "url" | "file" | "choice";
  choices?: readonly string[];
  /** Masked in all output; a warning when given as a flag; `${ENV}` only in a pool file. */
  secret?: boolean;
  /** What applies when the setting is absent, as the docs say it. */
  default: string;
  /** A required setting's name in "No <label>" messages. */
  label?: string;
}

export const SETTINGS: readonly SettingSpec[] = [
  {
    key: "controllerUrl",
    flags: "--controller-url <url>",
    env: "ANKA_CONTROLLER_URL",
    file: "controller.url",
    label: "Anka controller URL",
    description: "Anka Build Cloud Controller URL, e.g. https://anka.example.com:8090",
    kind: "url",
    default: "required",
  },
  {
    key: "auth",
    flags: "--auth <method>",
    env: "ANKA_AUTH",
    file: "controller.auth",
    description:
      "controller authentication: none, root-token, certificate or uak (default: the one whose settings are given)",
    kind: "string",
    default: "none",
  },
  {
    key: "rootToken",
    flags: "--root-token <token>",
    env: "ANKA_ROOT_TOKEN",
    file: "controller.auth.rootToken",
    description: "the controller's root token (prefer the env variable: flags show in the process list)",
    kind: "string",
    secret: true,
    default: "none",
  },
  {
    key: "clientCertFile",
    flags: "--client-cert <file>",
    env: "ANKA_CLIENT_CERT_FILE",
    file: "controller.auth.certificate.certificateFile",
    description: "client certificate (PEM) for certificate authentication (https only)",
    kind: "file",
    default: "none",
  },
  {
    key: "clientKeyFile",
    flags: "--client-key <file>",
    env: "ANKA_CLIENT_KEY_FILE",
    file: "controller.auth.certificate.keyFile",
    description: "its unencrypted private key (PEM)",
    kind: "file",
    default: "none",
  },
  {
    key: "uakId",
    flags: "--uak-id <id>",
    env: "ANKA_UAK_ID",
    file: "controller.auth.uak.id",
    description: "User API Key id for UAK authentication",
    kind: "string",
    default: "none",
  },
  {
    key: "uakKeyFile",
    flags: "--uak-key-file <file>",
    env: "ANKA_UAK_KEY_FILE",
    file: "controller.auth.uak.keyFile",
    description: "the UAK's private key (PEM, or its base64 body)",
    kind: "file",
    default: "none",
  },
  {
    key: "uakKey",
    // No flag: a private key on the command line would be in the process list.
    env: "ANKA_UAK_KEY",
    file: "controller.auth.uak.privateKey",
    description: "the UAK's private key itself, instead of a file",
    kind: "string",
    secret: true,
    default: "none",
  },
  {
    key: "caCertFile",
    flags: "--ca-cert <file>",
    env: "ANKA_CA_CERT_FILE",
    file: "controller.caCertificate",
    description: "PEM file of the CA that signed the controller's certificate",
    kind: "file",
    default: "system CAs",
  },
  {
    key: "skipTlsVerification",
    flags: "--skip-tls-verification",
    env: "ANKA_SKIP_TLS_VERIFICATION",
    file: "controller.skipTlsVerification",
    description: "do not verify the controller's certificate (insecure; warns)",
    kind: "boolean",
    default: "false",
  },
  {
    key: "azureDevOpsUrl",
    flags: "--azure-devops-url <url>",
    env: "AZP_URL",
    file: "azureDevOps.url",
    label: "Azure DevOps organization URL",
    description: "organization URL the agents register with, e.g. https://dev.azure.com/contoso",
    kind: "url",
    default: "required",
  },
  {
    key: "pat",
    flags: "--pat <pat>",
    env: "AZP_TOKEN",
    file: "azureDevOps.token",
    label: "Azure DevOps PAT",
    description: "PAT with scope Agent Pools (Read & manage) (prefer the env variable)",
    kind: "string",
    secret: true,
    default: "required",
  },
  {
    key: "pool",
    flags: "--pool <name>",
    env: "AZP_POOL",
    file: "azureDevOps.pool",
    label: "agent pool",
    description: "self-hosted agent pool the VMs' agents join",
    kind: "string",
    default: "required",
  },
  {
    key: "agentUser",
    flags: "--agent-user <user>",
    env: "AZP_AGENT_USER",
    file: "agent.user",
    description: "macOS user the agent runs as",
    kind: "string",
    default: "the VM's logged-in user",
  },
  {
    key: "agentPath",
    flags: "--agent-path <dir>",
    env: "AZP_AGENT_PATH",
    file: "agent.path",
    description: "agent install folder in the VM",
    kind: "string",
    default: "$HOME/azp-agent",
  },
  {
    key: "agentLogPath",
    flags: "--agent-log-path <dir>",
    env: "AZP_AGENT_LOG_PATH",
    file: "agent.logPath",
    description: "folder for the startup and agent logs in the VM",
    kind: "string",
    default: "<agent path>/_diag",
  },
  {
    key: "agentProxyUrl",
    flags: "--agent-proxy-url <url>",
    env: "AZP_AGENT_PROXY_URL",
    file: "agent.proxyUrl",
    description: "proxy the agent uses to reach Azure DevOps",
    kind: "string",
    default: "none",
  },
  {
    key: "agentDownloadUrl",
    flags: "--agent-download-url <url>",
    env: "AZP_AGENT_DOWNLOAD_URL",
    file: "agent.downloadUrl",
    description: "agent package URL (a mirror for closed networks)",
    kind: "string",
    default: "asked from Azure DevOps",
  },
  {
    key: "agentRegistration",
    flags: "--agent-registration <mode>",
    env: "AZP_AGENT_REGISTRATION",
    file: "agent.registration",
    description: "inVm (default) or preregistered: see docs/startup-script.md",
    kind: "choice",
    choices: AGENT_REGISTRATION_MODES,
    default: "inVm",
  },
  {
    key: "startupScriptFile",
    // The connection-level script has no global flag: `start --startup-script-file` overrides it.
    env: "ANKA_STARTUP_SCRIPT_FILE",
    file: "agent.startupScriptFile",
    description: "custom startup script replacing the built-in one, for every start",
    kind: "file",
    default: "built-in",
  },
];

export interface PoolKeySpec {
  /** Dotted path; `classes[].x` for a field of each class. */
  file: string;
  description: string;
  default: string;
}

/** The pool service's own keys (src/pool/config.ts reads them); the CLI ignores these sections. */
export const POOL_KEYS: readonly PoolKeySpec[] = [
  { file: "pollSeconds", description: "time between reconcile passes", default: "10" },
  { file: "maxVms", description: "VMs across all classes", default: "sum of classes[].max" },
  {
    file: "startTimeoutMinutes",
    description: "start request until Started (pull and startup script included)",
    default: "30",
  },
  {
    file: "agentTimeoutMinutes",
    description: "how long a Started VM's agent may stay unregistered, or offline without having run its job",
    default: "10",
  },
  { file: "http.host", description: "address of /healthz and /metrics", default: "127.0.0.1" },
  {
    file: "http.port",
    description: "their port (0: any free one); no HTTP server without http",
    default: "none",
  },
  {
    file: "hooks.username",
    description: "user name Azure DevOps service hooks send (basic authentication) to POST /hooks",
    default: "anka-pool",
  },
  {
    file: "hooks.password",
    description: "their password, as a ${ENV} reference; no /hooks endpoint without hooks (needs http)",
    default: "none",
  },
  { file: "logLevel", description: "debug, info or warn", default: "info" },
  {
    file: "classes[].name",
    description:
      "1-40 of A-Z a-z 0-9 . _ -; the anka-class value and part of agent names (placeholder is reserved)",
    default: "required",
  },
  { file: "classes[].template", description: "template name or UUID", default: "required" },
  { file: "classes[].tag", description: "template tag", default: "latest" },
  {
    file: "classes[].max",
    description: "VMs of the class at most, whatever their state",
    default: "required",
  },
  {
    file: "classes[].standby",
    description:
      "idle VMs kept warm: a count, or windows [{ days: [mon, ...], from: HH:MM, to: HH:MM, count }] (none outside them)",
    default: "0",
  },
  { file: "timeZone", description: "IANA time zone of the standby windows", default: "UTC" },
  {
    file: "classes[].idleMinutes",
    description: "an idle VM older than this is recycled (and replaced while standby wants it)",
    default: "15",
  },
  { file: "classes[].nodeGroup", description: "node group name or id", default: "none" },
  { file: "classes[].priority", description: "1 (most urgent) .. 10000", default: "none" },
  { file: "classes[].vcpu", description: "CPU count", default: "template's" },
  { file: "classes[].vram", description: "RAM in MB", default: "template's" },
  {
    file: "classes[].capabilities",
    description:
      "which of anka-class, anka-template, anka-template-id, anka-template-tag the class advertises",
    default: "all four",
  },
];

/** Top-level keys of the pool-only sections. */
export const POOL_SECTIONS: readonly string[] = [
  ...new Set(POOL_KEYS.map((spec) => spec.file.split(/[.[]/)[0] as string)),
];

/** The pool-only keys below a prefix: "classes[]." → name, template, ... */
export function poolKeysUnder(prefix: string): string[] {
  return POOL_KEYS.filter((spec) => spec.file.startsWith(prefix)).map((spec) =>
    spec.file.slice(prefix.length),
  );
}

export function specOf(key: SettingKey): SettingSpec {
  return SETTINGS.find((spec) => spec.key === key) as SettingSpec;
}
