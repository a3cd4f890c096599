// Command line and VSTS_AGENT_INPUT_* parsing of the stand-in agent, after the real CommandSettings
// (azure-pipelines-agent.md §1, §2 step 0; azure-devops.md §6.2): names are case-insensitive, unknown
// arguments only warn, and every VSTS_AGENT_INPUT_<NAME> variable is an argument that is removed from
// the process environment (so it never becomes a capability nor reaches a job).
import process from "node:process";

const COMMANDS = new Set(["configure", "remove", "run", "warmup"]);

const FLAGS = new Set([
  "acceptteeeula",
  "adddeploymentgrouptags",
  "alwaysextracttask",
  "commit",
  "deploymentgroup",
  "deploymentpool",
  "disableloguploads",
  "environment",
  "gituseschannel",
  "help",
  "norestart",
  "once",
  "overwriteautologon",
  "preventservicestart",
  "replace",
  "restreamlogstofiles",
  "runasautologon",
  "runasservice",
  "sslskipcertvalidation",
  "unattended",
  "version",
]);

const VALUE_ARGS = new Set([
  "agent",
  "auth",
  "clientid",
  "clientsecret",
  "collectionname",
  "deploymentgroupname",
  "deploymentgrouptags",
  "deploymentpoolname",
  "environmentname",
  "password",
  "pool",
  "projectname",
  "proxypassword",
  "proxyurl",
  "proxyusername",
  "sslcacert",
  "sslclientcert",
  "sslclientcertarchive",
  "sslclientcertkey",
  "sslclientcertpassword",
  "tenantid",
  "token",
  "url",
  "username",
  "windowslogonaccount",
  "windowslogonpassword",
  "work",
]);

/** Values the real agent registers with its secret masker (CommandSettings L116-120). */
export const SECRET_ARGS = [
  "token",
  "password",
  "proxypassword",
  "sslclientcertpassword",
  "windowslogonpassword",
  "clientsecret",
];

const ENV_PREFIX = "VSTS_AGENT_INPUT_";

export class CommandSettings {
  constructor(argv, env = process.env) {
    this.commands = [];
    this.args = new Map();
    this.flags = new Set();
    this.unknown = [];
    let scope;
    for (const token of argv) {
      if (token.startsWith("--")) {
        const name = token.slice(2).toLowerCase();
        scope = undefined;
        if (FLAGS.has(name)) this.flags.add(name);
        else {
          scope = name;
          this.args.set(name, "");
        }
      } else if (scope !== undefined) {
        this.args.set(scope, token);
        scope = undefined;
      } else {
        this.commands.push(token.toLowerCase());
      }
    }
    for (const name of this.args.keys()) if (!VALUE_ARGS.has(name)) this.unknown.push(name);
    this.unknown.push(...this.commands.filter((command, index) => index > 0 || !COMMANDS.has(command)));

    // Environment arguments: read and removed for every command (CommandSettings.cs L99-130).
    this.envArgs = new Map();
    for (const key of Object.keys(env)) {
      if (key.toUpperCase().startsWith(ENV_PREFIX)) {
        this.envArgs.set(key.slice(ENV_PREFIX.length).toLowerCase(), env[key] ?? "");
        delete env[key];
      }
    }
  }

  get command() {
    return COMMANDS.has(this.commands[0] ?? "") ? this.commands[0] : undefined;
  }

  /** Command line first, then VSTS_AGENT_INPUT_<NAME>; empty values count as missing. */
  arg(name) {
    const value = this.args.get(name) || this.envArgs.get(name);
    return value === undefined || value === "" ? undefined : value;
  }

  /** A flag given on the command line, or VSTS_AGENT_INPUT_<NAME>=true (bool.TryParse). */
  flag(name) {
    return this.flags.has(name) || this.envArgs.get(name)?.trim().toLowerCase() === "true";
  }

  secrets() {
    return SECRET_ARGS.map((name) => this.arg(name)).filter((value) => value !== undefined);
  }
}
