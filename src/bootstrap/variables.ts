import { shellQuote } from "./shell-quote.ts";
import { AGENT_IDENTIFIER_CAPABILITY, type BootstrapValues } from "./values.ts";

/**
 * The shell variables at the top of every rendered startup script. The built-in script reads
 * them unexported; a custom script gets them exported. Their names are public (documented in
 * docs/startup-script.md): never rename one.
 */
export const STARTUP_SCRIPT_VARIABLES = [
  { name: "ANKA_AZP_URL", meaning: "Organization / collection URL the agent registers with", secret: false },
  { name: "ANKA_AZP_POOL", meaning: "Agent pool name", secret: false },
  { name: "ANKA_AZP_AGENT_NAME", meaning: "Agent name (anka-<identifier>, sanitised)", secret: false },
  {
    name: AGENT_IDENTIFIER_CAPABILITY,
    meaning: "Value of the agent's ANKA_AGENT_IDENTIFIER capability (the build job demands it)",
    secret: false,
  },
  {
    name: "ANKA_AZP_TOKEN",
    meaning:
      "PAT for registering the agent; give it to config.sh as VSTS_AGENT_INPUT_TOKEN, then unset it. Empty when ANKA_AZP_REGISTRATION is preregistered",
    secret: true,
  },
  {
    name: "ANKA_AZP_REGISTRATION",
    meaning:
      "inVm: register with config.sh and ANKA_AZP_TOKEN; preregistered: write the three agent files below",
    secret: false,
  },
  {
    name: "ANKA_AZP_AGENT_SETTINGS",
    meaning: "preregistered: the content of the agent's .agent file (JSON); empty for inVm",
    secret: false,
  },
  {
    name: "ANKA_AZP_AGENT_CREDENTIALS",
    meaning: "preregistered: the content of the agent's .credentials file (JSON, no secret); empty for inVm",
    secret: false,
  },
  {
    name: "ANKA_AZP_AGENT_KEY",
    meaning:
      "preregistered: the content of .credentials_rsaparams, the agent's private key (write it with mode 600, then unset it); empty for inVm",
    secret: true,
  },
  { name: "ANKA_AZP_AGENT_PACKAGE_URL", meaning: "Agent package (.tar.gz) to download", secret: false },
  {
    name: "ANKA_AZP_AGENT_USER",
    meaning: "macOS user to run the agent as; empty: the logged-in user",
    secret: false,
  },
  {
    name: "ANKA_AZP_AGENT_PATH",
    meaning: "Agent folder (absolute, ~/… or $HOME/…); empty: ~/azp-agent of the agent user",
    secret: false,
  },
  {
    name: "ANKA_AZP_AGENT_LOG_PATH",
    meaning: "Folder for the startup and agent logs; empty: <agent folder>/_diag",
    secret: false,
  },
  { name: "ANKA_AZP_PROXY_URL", meaning: "Proxy for the download and the agent; empty: none", secret: false },
  {
    name: "ANKA_AZP_CAPABILITIES",
    meaning: "Every capability the agent must advertise, one NAME=value per line, in the agent's .env format",
    secret: false,
  },
] as const satisfies ReadonlyArray<{ name: string; meaning: string; secret: boolean }>;

export type StartupScriptVariableName = (typeof STARTUP_SCRIPT_VARIABLES)[number]["name"];

/**
 * Variables the agent must not publish as capabilities (azure-pipelines-agent.md §1: every env var
 * of the listener becomes one, unless listed in VSO_AGENT_IGNORE, which is not ignored itself).
 * ANKA_AGENT_IDENTIFIER is missing on purpose: it is the capability.
 */
export const AGENT_IGNORED_VARIABLES: readonly string[] = [
  "VSTS_AGENT_INPUT_TOKEN",
  ...STARTUP_SCRIPT_VARIABLES.map((variable) => variable.name).filter(
    (name) => name !== AGENT_IDENTIFIER_CAPABILITY,
  ),
  "VSO_AGENT_IGNORE",
];

/** The `.env` lines (`NAME=value`) the agent reads at every start: the identifier first, then the extras. */
export function capabilityLines(values: BootstrapValues): string {
  const capabilities: Array<[string, string]> = [
    [AGENT_IDENTIFIER_CAPABILITY, values.agentIdentifier],
    ...Object.entries(values.extraCapabilities ?? {}),
  ];
  return capabilities.map(([name, value]) => `${name}=${value}`).join("\n");
}

export function startupScriptVariableValues(
  values: BootstrapValues,
): Record<StartupScriptVariableName, string> {
  return {
    ANKA_AZP_URL: values.azureDevOpsUrl,
    ANKA_AZP_POOL: values.pool,
    ANKA_AZP_AGENT_NAME: values.agentName,
    ANKA_AGENT_IDENTIFIER: values.agentIdentifier,
    ANKA_AZP_TOKEN: values.pat ?? "",
    ANKA_AZP_REGISTRATION: values.agentFiles ? "preregistered" : "inVm",
    ANKA_AZP_AGENT_SETTINGS: values.agentFiles?.agent ?? "",
    ANKA_AZP_AGENT_CREDENTIALS: values.agentFiles?.credentials ?? "",
    ANKA_AZP_AGENT_KEY: values.agentFiles?.rsaParams ?? "",
    ANKA_AZP_AGENT_PACKAGE_URL: values.agentPackageUrl,
    ANKA_AZP_AGENT_USER: values.agentUser ?? "",
    ANKA_AZP_AGENT_PATH: values.agentPath ?? "",
    ANKA_AZP_AGENT_LOG_PATH: values.agentLogPath ?? "",
    ANKA_AZP_PROXY_URL: values.proxyUrl ?? "",
    ANKA_AZP_CAPABILITIES: capabilityLines(values),
  };
}

/**
 * One `NAME='value'` line per variable (plus `extra` lines), in a brace group: the only place where
 * values enter a rendered script. The values are literal text on purpose, so shellcheck's notes
 * about text that looks like an expansion, a `~` or a quote inside them are switched off for this
 * group only (a directive before a compound command covers the whole command).
 */
export function renderVariableAssignments(values: BootstrapValues, extra: readonly string[] = []): string {
  const valueOf = startupScriptVariableValues(values);
  const lines = [
    ...STARTUP_SCRIPT_VARIABLES.map(({ name }) => `${name}=${shellQuote(valueOf[name])}`),
    ...extra,
  ];
  return `# shellcheck disable=${LITERAL_VALUE_NOTES.join(",")}\n{\n${lines.map((line) => `  ${line}\n`).join("")}}\n`;
}

/** Expressions in single quotes, `~` in quotes, `'\''`, quotes kept literally in a variable. */
const LITERAL_VALUE_NOTES = ["SC1003", "SC2016", "SC2088", "SC2089", "SC2090"];
