#!/bin/sh
# Stand-in for the Azure Pipelines agent's config.sh (azure-pipelines-agent.md §2 step 0 and §4):
# refuses to run as root unless AGENT_ALLOW_RUNASROOT is set, works from the agent root, sources
# env.sh only when configuring, then hands over to bin/Agent.Listener.

user_id=$(id -u)
if [ "$user_id" -eq 0 ] && [ -z "${AGENT_ALLOW_RUNASROOT:-}" ]; then
    echo "Must not run with sudo"
    exit 1
fi

cd "$(dirname "$0")" || exit 1

if [ "${1:-}" = "remove" ]; then
    exec ./bin/Agent.Listener "$@"
fi

# shellcheck source=SCRIPTDIR/env.sh
. ./env.sh
exec ./bin/Agent.Listener configure "$@"
