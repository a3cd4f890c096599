// `sudo` inside a sandboxed VM (run by the shim script the runner writes: node sudo-shim.mjs <config> ...).
// The sandbox cannot switch users, so the command runs as the current user, but the environment is
// what macOS sudo gives (sudoers defaults, env_reset): only TERM, PATH, HOME, MAIL, SHELL, LOGNAME,
// USER, the SUDO_* variables and macOS's env_keep list survive, unless -E; `VAR=value` arguments
// before the command are set (allowed for an "ALL" sudoers rule, which is what Anka templates give the
// VM user, anka-controller-api.md §8 "sudo -u <agentUser> -i -n"). -i runs the command through a shell
// in the sandbox HOME with a login environment; -H sets HOME. -n, -S, -k are accepted and ignored.
import { spawn } from "node:child_process";
import console from "node:console";
import { readFileSync } from "node:fs";
import os from "node:os";
import process from "node:process";

/** macOS /etc/sudoers: `Defaults env_keep += ...` */
const ENV_KEEP = [
  "BLOCKSIZE",
  "COLORFGBG",
  "COLORTERM",
  "__CF_USER_TEXT_ENCODING",
  "CHARSET",
  "LANG",
  "LANGUAGE",
  "LINES",
  "COLUMNS",
  "LSCOLORS",
  "SSH_AUTH_SOCK",
  "TZ",
  "DISPLAY",
  "XAUTHORIZATION",
  "XAUTHORITY",
  "EDITOR",
  "VISUAL",
  "HOME",
  "MAIL",
];
const ENV_RESET_KEEP = ["TERM", "PATH", "HOME", "MAIL", "SHELL", "LOGNAME", "USER"];
const LOGIN_KEEP = ["DISPLAY", "PATH", "TERM"];

const [configPath, ...argv] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));

function fail(message) {
  console.error(`sudo: ${message}`);
  console.error("usage: sudo [-EHikSn] [-u user] [VAR=value] [-i | -s] [command [arg ...]]");
  process.exit(1);
}

function parse(args) {
  const options = { user: "root", login: false, setHome: false, preserveEnv: false, shell: false };
  let index = 0;
  while (index < args.length) {
    const arg = args[index];
    if (arg === "--") {
      index++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    index++;
    if (arg.startsWith("--")) {
      const [name, value] = arg.slice(2).split(/=(.*)/s, 2);
      if (name === "user") options.user = value ?? args[index++];
      else if (name === "login") options.login = true;
      else if (name === "set-home") options.setHome = true;
      else if (name === "preserve-env") options.preserveEnv = value === undefined ? true : value.split(",");
      else if (name === "shell") options.shell = true;
      else if (name !== "non-interactive" && name !== "stdin" && name !== "reset-timestamp") {
        fail(`unrecognized option '--${name}'`);
      }
      continue;
    }
    for (let at = 1; at < arg.length; at++) {
      const flag = arg[at];
      if (flag === "u") {
        options.user = arg.slice(at + 1) || args[index++];
        break;
      }
      if (flag === "i") options.login = true;
      else if (flag === "H") options.setHome = true;
      else if (flag === "E") options.preserveEnv = true;
      else if (flag === "s") options.shell = true;
      else if (!"nSkK".includes(flag)) fail(`invalid option -- '${flag}'`);
    }
  }
  if (!options.user) fail("option requires an argument -- 'u'");
  const assignments = [];
  while (index < args.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(args[index])) assignments.push(args[index++]);
  return { options, assignments, command: args.slice(index) };
}

function buildEnvironment({ options, assignments, command }) {
  const current = process.env;
  const keep = (names) =>
    Object.fromEntries(
      names.filter((name) => current[name] !== undefined).map((name) => [name, current[name]]),
    );
  const lcVariables = Object.fromEntries(Object.entries(current).filter(([name]) => name.startsWith("LC_")));
  let env;
  if (options.login) env = { ...keep(LOGIN_KEEP), ...keep(ENV_KEEP), ...lcVariables };
  else if (options.preserveEnv === true) env = { ...current };
  else {
    env = { ...keep(ENV_RESET_KEEP), ...keep(ENV_KEEP), ...lcVariables };
    if (Array.isArray(options.preserveEnv)) Object.assign(env, keep(options.preserveEnv));
  }
  env.USER = options.user;
  env.LOGNAME = options.user;
  env.SHELL = "/bin/bash";
  if (options.login || options.setHome) env.HOME = config.home;
  if (options.login) env.MAIL = `/var/mail/${options.user}`;
  env.SUDO_USER = current.USER ?? config.user;
  env.SUDO_UID = String(process.getuid?.() ?? 0);
  env.SUDO_GID = String(process.getgid?.() ?? 0);
  env.SUDO_COMMAND = command.join(" ");
  for (const assignment of assignments) {
    const at = assignment.indexOf("=");
    env[assignment.slice(0, at)] = assignment.slice(at + 1);
  }
  return env;
}

const quote = (word) => `'${word.replace(/'/g, `'\\''`)}'`;

const parsed = parse(argv);
if (parsed.command.length === 0 && !parsed.options.login && !parsed.options.shell)
  fail("a command is required");
const env = buildEnvironment(parsed);
// -i and -s run the command through the target user's shell, like sudo does (`shell -c "words"`).
const throughShell = parsed.options.login || parsed.options.shell;
const [file, args] = throughShell
  ? ["/bin/sh", parsed.command.length ? ["-c", parsed.command.map(quote).join(" ")] : []]
  : [parsed.command[0], parsed.command.slice(1)];
const child = spawn(file, args, {
  stdio: "inherit",
  env,
  cwd: parsed.options.login ? config.home : process.cwd(),
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("error", (error) => {
  console.error(
    `sudo: ${parsed.command[0]}: ${error.code === "ENOENT" ? "command not found" : error.message}`,
  );
  process.exit(1);
});
child.on("exit", (code, signal) => process.exit(code ?? 128 + (os.constants.signals[signal] ?? 1)));
