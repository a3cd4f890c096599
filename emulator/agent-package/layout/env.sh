#!/bin/sh
# Stand-in for the agent's env.sh (azure-pipelines-agent.md §1 ".env"): sourced by config.sh only.
# Creates .env when missing and appends NAME=value for each listed variable that is set and not yet
# in the file; records $PATH in .path. Every Agent.Listener start loads .env into its environment.

env_check_list="LANG JAVA_HOME ANT_HOME M2_HOME ANDROID_HOME GRADLE_HOME NVM_BIN NVM_PATH VSTS_HTTP_PROXY VSTS_HTTP_PROXY_USERNAME VSTS_HTTP_PROXY_PASSWORD LD_LIBRARY_PATH PERL5LIB AGENT_TOOLSDIRECTORY"

if [ ! -f .env ]; then
    : > .env
fi
for env_name in $env_check_list; do
    eval "env_value=\${$env_name:-}"
    if [ -n "$env_value" ] && ! grep -q "^$env_name=" .env; then
        printf '%s=%s\n' "$env_name" "$env_value" >> .env
    fi
done
printf '%s\n' "$PATH" > .path
