import { AGENT_IDENTIFIER_CAPABILITY, type BootstrapValues } from "./values.ts";

/**
 * Checks everything the startup script relies on, before anything is started, so that a bad
 * value fails the task with a message naming the field instead of failing inside the VM.
 */
export function validateBootstrapValues(values: BootstrapValues): void {
  for (const [field, value] of stringFields(values)) {
    if (value.includes("\0")) {
      throw invalid(field, "contains a NUL character, which no shell value can hold", "remove it");
    }
  }

  requireValue(
    values.azureDevOpsUrl,
    "azureDevOpsUrl",
    "set the organization URL, e.g. https://dev.azure.com/contoso",
  );
  requireValue(values.pool, "pool", "set the agent pool in the service connection (agentPool)");
  requireValue(values.agentName, "agentName", "derive it with agentNameFor(agentIdentifier)");
  requireValue(
    values.agentIdentifier,
    "agentIdentifier",
    "set the task input agentIdentifier, e.g. $(Build.BuildId)",
  );
  if (values.agentFiles) {
    // The point of a pre-registered agent: no form of the PAT goes to the VM.
    if (values.pat)
      throw invalid(
        "pat",
        "is set for a pre-registered agent",
        "leave it out: the VM gets only the agent's files",
      );
  } else {
    requireValue(values.pat, "pat", "set azureDevOpsToken in the service connection");
  }
  requireValue(
    values.agentPackageUrl,
    "agentPackageUrl",
    "set agentDownloadUrl or let the task ask Azure DevOps",
  );

  requireHttpUrl(values.azureDevOpsUrl, "azureDevOpsUrl");
  requireHttpUrl(values.agentPackageUrl, "agentPackageUrl");
  if (values.proxyUrl) requireHttpUrl(values.proxyUrl, "proxyUrl");

  if (!/^[A-Za-z0-9._-]+$/.test(values.agentName)) {
    throw invalid(
      "agentName",
      "has characters outside [A-Za-z0-9._-]",
      "derive it with agentNameFor(agentIdentifier)",
    );
  }
  // The PAT reaches config.sh as one line on a pipe (docs/startup-script.md).
  if (values.pat && /[\r\n]/.test(values.pat)) {
    throw invalid("pat", "contains a line break", "paste the token without line breaks");
  }
  if (values.agentUser !== undefined && values.agentUser !== "") validateAgentUser(values.agentUser);
  if (values.agentPath) validateVmPath(values.agentPath, "agentPath");
  if (values.agentLogPath) validateVmPath(values.agentLogPath, "agentLogPath");

  validateCapabilityValue(values.agentIdentifier, "agentIdentifier");
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(values.extraCapabilities ?? {})) {
    validateCapabilityName(name, seen);
    validateCapabilityValue(value, `extraCapabilities.${name}`);
  }
}

function stringFields(values: BootstrapValues): Array<[string, string]> {
  const fields: Array<[string, unknown]> = Object.entries(values).filter(
    ([key]) => key !== "extraCapabilities",
  );
  for (const [name, value] of Object.entries(values.extraCapabilities ?? {})) {
    fields.push(
      [`extraCapabilities name ${JSON.stringify(name)}`, name],
      [`extraCapabilities.${name}`, value],
    );
  }
  return fields.filter((field): field is [string, string] => typeof field[1] === "string");
}

function requireValue(value: string | undefined, field: string, fix: string): void {
  if (typeof value !== "string" || value.trim() === "") throw invalid(field, "is empty", fix);
}

// The value is not echoed: a proxy or mirror URL may carry credentials.
function requireHttpUrl(value: string, field: string): void {
  const protocol = URL.canParse(value) ? new URL(value).protocol : undefined;
  if (protocol === undefined) {
    throw invalid(field, "is not a URL", "give a full http:// or https:// URL");
  }
  if (protocol !== "http:" && protocol !== "https:") {
    throw invalid(
      field,
      `uses ${protocol} instead of http: or https:`,
      "give a full http:// or https:// URL",
    );
  }
}

/**
 * A macOS short name. It must not start with `-` (it is an argument of sudo and id) nor be `root`:
 * config.sh refuses to run as root (azure-pipelines-agent.md §2, step 0).
 */
function validateAgentUser(user: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/.test(user)) {
    throw invalid(
      "agentUser",
      `${JSON.stringify(user)} is not a valid macOS user name`,
      "use the short name of an existing user (letters, digits, _ . -), or leave it empty for the logged-in user",
    );
  }
  if (user === "root") {
    throw invalid("agentUser", "is root, which config.sh refuses", "use an unprivileged user");
  }
}

/** The script resolves `~` and `$HOME` against the agent user's home; relative paths mean nothing there. */
function validateVmPath(path: string, field: string): void {
  if (!/^(\/|~\/|\$HOME\/|~$|\$HOME$)/.test(path)) {
    throw invalid(
      field,
      `${JSON.stringify(path)} is not absolute`,
      "give an absolute path, or one starting with ~/ or $HOME/ (the agent user's home)",
    );
  }
}

/**
 * Capability names become lines of the agent's `.env` (`NAME=value`) and keys of a
 * case-insensitive dictionary (azure-pipelines-agent.md §1), so they must be unique ignoring case
 * and must not be variables the agent itself interprets.
 */
function validateCapabilityName(name: string, seen: Set<string>): void {
  const field = `extraCapabilities name ${JSON.stringify(name)}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw invalid(field, "has characters outside [A-Za-z0-9._-]", "rename the capability");
  }
  if (/^VSTS_AGENT_INPUT_/i.test(name) || /^VSO_AGENT_IGNORE$/i.test(name)) {
    throw invalid(field, "is a setting the agent reads, not a capability", "rename the capability");
  }
  if (name.toLowerCase() === AGENT_IDENTIFIER_CAPABILITY.toLowerCase()) {
    throw invalid(field, "is set from agentIdentifier", "remove it from the extra capabilities");
  }
  if (seen.has(name.toLowerCase())) {
    throw invalid(field, "is given twice (capability names ignore case)", "keep one of them");
  }
  seen.add(name.toLowerCase());
}

/**
 * `.env` is read line by line with no quoting (a line break would cut the value), and the agent
 * drops capability values of 1024 characters or more (azure-pipelines-agent.md §1).
 */
function validateCapabilityValue(value: string, field: string): void {
  if (/[\r\n]/.test(value)) {
    throw invalid(field, "contains a line break, which a capability value cannot hold", "remove it");
  }
  if (value.length >= 1024) {
    throw invalid(
      field,
      `is ${value.length} characters long; the agent ignores capability values from 1024 on`,
      "shorten it",
    );
  }
}

function invalid(field: string, problem: string, fix: string): Error {
  return new Error(`Startup script value ${field} ${problem}: ${fix}.`);
}
