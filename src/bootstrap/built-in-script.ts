import { WRITE_AGENT_FILES_STEP } from "./agent-files-script.ts";
import { shellQuote } from "./shell-quote.ts";
import { validateBootstrapValues } from "./validate.ts";
import type { BootstrapValues } from "./values.ts";
import { AGENT_IGNORED_VARIABLES, renderVariableAssignments } from "./variables.ts";

/**
 * The built-in startup script (contract §5; walkthrough in docs/startup-script.md). The Anka
 * controller runs it inside the VM as `sh` reading it on stdin, as the logged-in user, with no
 * profile (anka-controller-api.md §8). macOS's `sh` may be bash, dash or zsh, so the script is
 * POSIX sh, checked by shellcheck and run in the tests under every POSIX shell Debian packages
 * (emulator/sandbox/shells.ts). It calls only curl, tar, mkdir, rm, cat, nohup, id, printf and
 * (with an agent user) sudo, plus builtins.
 *
 * Values enter in exactly one place: the quoted assignments at the top. The header and the body
 * below are constants, pure ASCII (a test holds it): yash decodes its input by the locale, and in
 * a C locale refuses any byte above 127, even in a comment. They never interpolate a value into
 * code. (In the literal below, `\\` and `\${` are TypeScript escapes for `\` and `${`.)
 */
export function renderBuiltInStartupScript(values: BootstrapValues): string {
  validateBootstrapValues(values);
  return (
    SCRIPT_HEADER +
    renderVariableAssignments(values, [
      `anka_ignored_variables=${shellQuote(AGENT_IGNORED_VARIABLES.join(","))}`,
    ]) +
    SCRIPT_BODY
  );
}

const SCRIPT_HEADER = `# Azure Pipelines agent for an Anka VM: download, configure as a single-use agent, start.
# Rendered by the Anka Start task; run by the Anka controller as sh reading this on stdin.
# See docs/startup-script.md. Exit codes: 2 agent user or folders, 3 download, 4 unpack,
# 5 capabilities, 6 configure (or the pre-registered agent's files).
# shellcheck disable=SC2016 # the single-quoted programs are for a child sh, which expands them
`;

// set -u: a misspelt variable stops the script. Never expand an empty "$@" under it: macOS's sh is
// bash 3.2, which calls that an unbound variable.
const SCRIPT_BODY = `set -u

agent_home=
agent_path=
log_path=
startup_log=
run_log=
package=
expanded=

say() {
  printf 'anka-startup: %s\\n' "$1"
}

# Runs a command as the agent user. With ANKA_AZP_AGENT_USER set that is sudo: -n fails at once
# instead of waiting for a password nobody can type, -H makes HOME the agent user's (macOS sudoers
# keeps the caller's HOME). sudo also resets the environment: nothing exported here crosses it.
as_agent_user() {
  if [ -n "$ANKA_AZP_AGENT_USER" ]; then
    sudo -n -H -u "$ANKA_AZP_AGENT_USER" "$@"
  else
    "$@"
  fi
}

# Runs a command as the agent user with its output appended to the startup log. The agent user
# opens the log: its folder may belong to that user only.
logged() {
  as_agent_user sh -c 'log=$1; shift; printf "== %s\\n" "$1" >>"$log" && exec "$@" >>"$log" 2>&1' sh "$startup_log" "$@"
}

# A failure ends the script with its step's exit code and says on stderr which step failed and
# where the log is: the controller keeps stderr and the Start task shows its tail
# (reference: startup-scripts A3). The log itself is copied first, so its end is part of that tail.
fail() {
  if [ -n "$startup_log" ]; then
    printf 'anka-startup: ---- %s ----\\n' "$startup_log" >&2
    as_agent_user cat "$startup_log" >&2 2>/dev/null
  fi
  printf 'anka-startup: %s failed: %s (log: %s)\\n' "$1" "$3" "\${startup_log:-none}" >&2
  exit "$2"
}

# Sets expanded to $1 with a leading ~ or $HOME replaced by the agent user's home.
expand_home() {
  case $1 in
    [~] | [~]/* | '$HOME' | '$HOME/'*)
      [ -n "$agent_home" ] || fail prepare 2 "the agent user has no HOME to resolve $1; use an absolute path"
      case $1 in
        [~]*) expanded=$agent_home\${1#[~]} ;;
        *) expanded=$agent_home\${1#'$HOME'} ;;
      esac
      ;;
    *) expanded=$1 ;;
  esac
}

find_agent_home() {
  if [ -z "$ANKA_AZP_AGENT_USER" ]; then
    agent_home=\${HOME:-}
    return
  fi
  id -u "$ANKA_AZP_AGENT_USER" >/dev/null 2>&1 ||
    fail 'agent user' 2 "there is no user $ANKA_AZP_AGENT_USER in this VM (service connection field agentUser)"
  # Asked from the agent user's own shell (sudo -H) rather than assuming /Users/<name>.
  agent_home=$(as_agent_user sh -c 'printf %s "$HOME"') ||
    fail 'agent user' 2 "cannot run commands as $ANKA_AZP_AGENT_USER with sudo -n: the logged-in user needs password-less sudo to that user"
}

prepare_folders() {
  agent_path=$ANKA_AZP_AGENT_PATH
  [ -n "$agent_path" ] || agent_path='$HOME/azp-agent'
  expand_home "$agent_path"
  agent_path=$expanded
  log_path=$ANKA_AZP_AGENT_LOG_PATH
  [ -n "$log_path" ] || log_path=$agent_path/_diag
  expand_home "$log_path"
  log_path=$expanded
  as_agent_user mkdir -p "$agent_path" "$log_path" ||
    fail prepare 2 "cannot create the folders $agent_path and $log_path"
  as_agent_user sh -c ': >>"$1" && : >>"$2"' sh "$log_path/anka-startup.log" "$log_path/anka-run.log" ||
    fail prepare 2 "cannot write log files in $log_path"
  startup_log=$log_path/anka-startup.log
  run_log=$log_path/anka-run.log
}

download_agent() {
  package=$agent_path/anka-agent-package.tar.gz
  set -- --output "$package" "$ANKA_AZP_AGENT_PACKAGE_URL"
  # The agent's proxy is the way out of a closed network for the download too.
  if [ -n "$ANKA_AZP_PROXY_URL" ]; then set -- --proxy "$ANKA_AZP_PROXY_URL" "$@"; fi
  say 'downloading the agent package'
  logged curl --fail --silent --show-error --location --retry 5 --retry-delay 2 --retry-connrefused \\
    --connect-timeout 30 --max-time 900 "$@" ||
    fail download 3 "could not download the agent package (curl's error is in the log)"
}

unpack_agent() {
  say "unpacking the agent into $agent_path"
  logged tar -xzf "$package" -C "$agent_path" ||
    fail unpack 4 "could not unpack the agent package into $agent_path"
  as_agent_user rm -f "$package"
  as_agent_user sh -c '[ -x "$1/config.sh" ] && [ -x "$1/run.sh" ]' sh "$agent_path" ||
    fail unpack 4 "the agent package has no config.sh and run.sh"
}

# The capabilities go into the agent's .env, not into the environment: Agent.Listener loads .env at
# every start, config and run alike, and publishes it as capabilities (azure-pipelines-agent.md section 1).
# So the capability is in the registration (a queued job needs a registered agent that matches,
# azure-devops.md section 10) and in every session of run.sh, even after sudo reset the environment.
write_capabilities() {
  printf '%s\\n' "$ANKA_AZP_CAPABILITIES" | as_agent_user sh -c 'cat >"$1"' sh "$agent_path/.env" ||
    fail capabilities 5 "cannot write $agent_path/.env"
}

# Writes the PAT as one line on stdout, in no argument list (ps shows those to every user):
# printf where it is a builtin (bash, dash, zsh, busybox sh), else a here-document. posh and mksh
# run printf as a program and keep a here-document in a 0600 temporary file for a moment; yash
# names the program it stands in for and passes here-documents through a pipe.
print_token() {
  if [ "$(command -v printf)" = printf ]; then
    printf '%s\\n' "$ANKA_AZP_TOKEN"
  else
    cat <<EOF
$ANKA_AZP_TOKEN
EOF
  fi
}

# The PAT travels on a pipe as one line into the agent user's shell, which exports it as
# VSTS_AGENT_INPUT_TOKEN for config.sh only: never in an argument list, never in a file of ours.
# The agent deletes VSTS_AGENT_INPUT_* from its environment when it starts, and
# VSO_AGENT_IGNORE keeps every variable that could carry the PAT out of the capabilities.
configure_agent() {
  set -- --unattended --url "$ANKA_AZP_URL" --auth pat --pool "$ANKA_AZP_POOL" \\
    --agent "$ANKA_AZP_AGENT_NAME" --replace --acceptTeeEula --work "$agent_path/_work"
  if [ -n "$ANKA_AZP_PROXY_URL" ]; then set -- "$@" --proxyurl "$ANKA_AZP_PROXY_URL"; fi
  say "registering agent $ANKA_AZP_AGENT_NAME (ANKA_AGENT_IDENTIFIER=$ANKA_AGENT_IDENTIFIER) in pool $ANKA_AZP_POOL"
  print_token | as_agent_user sh -c '
    IFS= read -r VSTS_AGENT_INPUT_TOKEN || exit 1
    VSO_AGENT_IGNORE=$1
    export VSTS_AGENT_INPUT_TOKEN VSO_AGENT_IGNORE
    log=$2
    cd "$3" || exit 1
    shift 3
    printf "== config.sh\\n" >>"$log"
    exec ./config.sh "$@" </dev/null >>"$log" 2>&1' sh "$anka_ignored_variables" "$startup_log" "$agent_path" "$@" ||
    fail configure 6 "config.sh could not register agent $ANKA_AZP_AGENT_NAME in pool $ANKA_AZP_POOL at $ANKA_AZP_URL"
  unset ANKA_AZP_TOKEN
}

${WRITE_AGENT_FILES_STEP}
# run.sh --once outlives this script: nohup shields it from a hangup, and none of its standard
# streams is this script's, because the controller waits until the script's output is closed
# (reference: startup-scripts A1-A2). It starts after the PAT left this shell, and the PAT was never
# exported: every build step inherits the listener's environment (azure-pipelines-agent.md sections 1, 6).
# The background job execs nohup: yash runs a redirected command in a child that keeps copies of
# the script's stdout and stderr, which the agent would inherit and hold open.
start_agent() {
  say 'starting run.sh --once in the background'
  run_program='cd "$1" || exit 1; exec ./run.sh --once </dev/null >>"$2" 2>&1'
  if [ -n "$ANKA_AZP_AGENT_USER" ]; then
    exec nohup sudo -n -H -u "$ANKA_AZP_AGENT_USER" sh -c "$run_program" sh "$agent_path" "$run_log" </dev/null >/dev/null 2>&1 &
  else
    exec nohup sh -c "$run_program" sh "$agent_path" "$run_log" </dev/null >/dev/null 2>&1 &
  fi
  say "agent $ANKA_AZP_AGENT_NAME configured and started; its output goes to $run_log"
}

main() {
  find_agent_home
  prepare_folders
  download_agent
  unpack_agent
  write_capabilities
  register_agent
  start_agent
}

# Called on the last line: the shell has read the whole script before anything runs, and with
# stdin closed no command can swallow the rest of the script, which arrives on stdin.
main </dev/null
`;
