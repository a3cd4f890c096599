/**
 * The startup script's step for agentRegistration `preregistered` (docs/startup-script.md): the
 * task registered the agent with its own key, so instead of config.sh the script writes the three
 * files config.sh would have written (agent-registration.md §1) next to run.sh, with the UTF-8 BOM
 * the agent writes and its file modes: the key 600 (config.sh chmods it), the others by umask.
 * Nothing else is needed: run.sh does not source env.sh (Agent.Listener reads .env itself, and
 * write_capabilities wrote it). The contents arrive on a pipe from printf, a builtin, so they are in
 * no argument list. Pure ASCII: the BOM is written as octal escapes.
 *
 * Shell text for the built-in script's body; in this literal `\\` stands for `\`.
 */
export const WRITE_AGENT_FILES_STEP = `# Writes stdin to $agent_path/$1 as the agent user, behind the BOM; $2: 600 for a secret file.
write_agent_file() {
  as_agent_user sh -c '
    rm -f "$1" || exit 1
    if [ "$2" = 600 ]; then umask 077; fi
    { printf "\\357\\273\\277" && cat; } >"$1" || exit 1
    if [ "$2" = 600 ]; then chmod 600 "$1"; fi' sh "$agent_path/$1" "$2"
}

write_agent_files() {
  say "writing the files of pre-registered agent $ANKA_AZP_AGENT_NAME (ANKA_AGENT_IDENTIFIER=$ANKA_AGENT_IDENTIFIER) in pool $ANKA_AZP_POOL"
  printf '%s' "$ANKA_AZP_AGENT_SETTINGS" | write_agent_file .agent 644 ||
    fail 'agent files' 6 "cannot write $agent_path/.agent"
  printf '%s' "$ANKA_AZP_AGENT_CREDENTIALS" | write_agent_file .credentials 644 ||
    fail 'agent files' 6 "cannot write $agent_path/.credentials"
  printf '%s' "$ANKA_AZP_AGENT_KEY" | write_agent_file .credentials_rsaparams 600 ||
    fail 'agent files' 6 "cannot write $agent_path/.credentials_rsaparams"
  unset ANKA_AZP_AGENT_KEY
}

register_agent() {
  if [ "$ANKA_AZP_REGISTRATION" = preregistered ]; then
    write_agent_files
  else
    configure_agent
  fi
}
`;
