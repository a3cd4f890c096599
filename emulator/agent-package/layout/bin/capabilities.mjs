// Capability scan of the stand-in agent (azure-pipelines-agent.md §1): providers in the real order
// Environment (1) -> tool scan and `.capabilities` (2) -> Agent (99), into a case-insensitive map in
// which a later provider overwrites the value but the first casing of a name is kept.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";

/** The built-in ignore list; compared case-sensitively on macOS/Linux, so the lower-case entries rarely match. */
const BUILT_IN_IGNORED = [
  "comp_wordbreaks",
  "ls_colors",
  "TERM",
  "TERM_PROGRAM",
  "TERM_PROGRAM_VERSION",
  "SHLVL",
  "PSMODULEPATH",
  "SYSTEM_ACCESSTOKEN",
];
const MAX_VALUE_LENGTH = 1024;

/** A few of the tools the real Nix capabilities provider looks for on PATH: capability name -> command. */
const TOOLS = {
  curl: "curl",
  git: "git",
  make: "make",
  "node.js": "node",
  npm: "npm",
  python3: "python3",
  sh: "sh",
};

class CapabilityMap {
  constructor() {
    this.entries = new Map();
  }

  set(name, value) {
    const key = name.toLowerCase();
    const existing = this.entries.get(key);
    this.entries.set(key, { name: existing ? existing.name : name, value });
  }

  toObject(mask) {
    return Object.fromEntries([...this.entries.values()].map(({ name, value }) => [name, mask(value)]));
  }
}

function environmentCapabilities(capabilities, env) {
  const ignored = new Set(BUILT_IN_IGNORED);
  for (const entry of (env.VSO_AGENT_IGNORE ?? "").split(",")) {
    if (entry.trim()) ignored.add(entry.trim());
  }
  for (const [name, value] of Object.entries(env)) {
    if (ignored.has(name) || value === undefined || value.length >= MAX_VALUE_LENGTH) continue;
    capabilities.set(name, value);
  }
}

function toolCapabilities(capabilities, env) {
  const dirs = (env.PATH ?? "").split(":").filter(Boolean);
  for (const [capability, command] of Object.entries(TOOLS)) {
    for (const dir of dirs) {
      const candidate = path.join(dir, command);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        capabilities.set(capability, candidate);
        break;
      } catch {
        // not in this directory
      }
    }
  }
}

function agentCapabilities(capabilities, { agentName, version, root }) {
  const platform = os.platform();
  capabilities.set("Agent.Name", agentName);
  capabilities.set(
    "Agent.OS",
    platform === "darwin" ? "Darwin" : platform === "linux" ? "Linux" : "Windows_NT",
  );
  capabilities.set(
    "Agent.OSArchitecture",
    os.arch() === "arm64" ? "ARM64" : os.arch() === "x64" ? "X64" : os.arch().toUpperCase(),
  );
  capabilities.set("Agent.OSVersion", os.release());
  capabilities.set("InteractiveSession", "False");
  capabilities.set("Agent.Version", version);
  capabilities.set("Agent.ComputerName", os.hostname());
  capabilities.set("Agent.HomeDirectory", root);
}

/**
 * The scan sent with a registration (configure) and with every session (run). `secrets` are masked
 * as `***` like the real secret masker does: at configure time it knows the PAT, at run time nothing.
 */
export function scanCapabilities({ files, agentName, version, secrets = [], env = process.env }) {
  const capabilities = new CapabilityMap();
  environmentCapabilities(capabilities, env);
  toolCapabilities(capabilities, env);
  for (const [name, value] of files.readKeyValues(".capabilities")) capabilities.set(name, value);
  agentCapabilities(capabilities, { agentName, version, root: files.root });
  return capabilities.toObject((value) => maskSecrets(value, secrets));
}

export function maskSecrets(text, secrets) {
  let masked = text;
  for (const secret of secrets) if (secret) masked = masked.split(secret).join("***");
  return masked;
}
