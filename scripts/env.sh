# Sourced by the project's scripts: the environment every Pulumi command of odavl-perf runs in.
# shellcheck shell=bash
ODAVL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.pulumi/bin:$ODAVL_ROOT/.venv/bin:$ODAVL_ROOT/.cache/bin:$PATH"
# No plugin downloads (a missing plugin is a clear error, never a hang) and no update checks.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=false
# Local file backend (state under .state/, ignored by git) unless the caller chose another.
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$ODAVL_ROOT/.state}"
mkdir -p "$ODAVL_ROOT/.state"
# The local stack's secrets provider is a passphrase. It protects nothing but throwaway local
# credentials, so its default is public; set PULUMI_CONFIG_PASSPHRASE to use your own.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-odavl-local}"
# The dynamic providers start PostgreSQL and the reference app as child processes; gRPC's
# fork handlers crash such children when other threads are inside gRPC (initdb then dies
# with SIGSEGV), so they are turned off for every process Pulumi starts.
export GRPC_ENABLE_FORK_SUPPORT=0
