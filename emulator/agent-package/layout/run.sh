#!/bin/sh
# Stand-in for the agent's run.sh (azure-pipelines-agent.md §3): runs `bin/Agent.Listener run` with
# the arguments passed unquoted like the real script; exit code 4 (run-once agent updating) starts the
# listener once more. The listener runs in the background so that SIGTERM/SIGINT sent to this script
# reach it (it then deletes its session) instead of being held until it exits.

cd "$(dirname "$0")" || exit 1

listener_pid=""
# shellcheck disable=SC2317 # invoked from the traps below
forward_signal() {
    if [ -n "$listener_pid" ]; then
        kill -s "$1" "$listener_pid" 2>/dev/null
    fi
}
trap 'forward_signal TERM' TERM
trap 'forward_signal INT' INT
trap 'forward_signal HUP' HUP

run_listener() {
    # shellcheck disable=SC2048,SC2086 # unquoted on purpose, as the real run.sh does
    ./bin/Agent.Listener run $* &
    listener_pid=$!
    # `wait` returns early when a trapped signal arrives: wait again until the listener is gone.
    while :; do
        wait "$listener_pid"
        listener_status=$?
        kill -0 "$listener_pid" 2>/dev/null || break
    done
    listener_pid=""
    return "$listener_status"
}

run_listener "$@"
status=$?
if [ "$status" -eq 4 ]; then
    echo "Agent update in progress, do not shutdown agent."
    sleep 5
    waited=0
    while [ ! -x ./bin/Agent.Listener ] && [ "$waited" -lt 15 ]; do
        sleep 1
        waited=$((waited + 1))
    done
    run_listener "$@"
    status=$?
fi
exit "$status"
