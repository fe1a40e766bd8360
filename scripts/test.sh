#!/usr/bin/env bash
# The test command: sets everything up (scripts/setup.sh), then runs ruff and the whole suite
# (unit tests with Pulumi mocks, integration tests against real PostgreSQL, Prometheus,
# InfluxDB, Locust and the Pulumi engine, each started by the tests on loopback).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -k settings`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
junit=""
# The cluster tests start the local Kubernetes cluster (scripts/cluster.sh) when it is not
# running; a cluster this command started is stopped again at its end, one already running is
# left as it was.
cluster_was_running=false
bash scripts/cluster.sh status >/dev/null 2>&1 && cluster_was_running=true
finish() {
  [ -z "$junit" ] || rm -f "$junit"
  # A background build still going (the tests ended before they needed it) stops with them.
  local parts_pid
  parts_pid="$(cat .cache/cluster-parts.pid 2>/dev/null || true)"
  if [ -n "$parts_pid" ] && [ ! -f .cache/cluster-parts.status ] && kill -0 "$parts_pid" 2>/dev/null; then
    echo "==> stopping the cluster parts' background build"
    kill -- "-$parts_pid" 2>/dev/null || true
  fi
  if [ "$cluster_was_running" = false ] && [ -d .state/cluster ]; then
    echo "==> stopping the local cluster the tests started"
    bash scripts/cluster.sh down || true
  fi
}
trap finish EXIT
# The cluster parts (Kubernetes binaries, kubernetes plugin, fleet image: minutes to build on a
# cold machine) build at nice 19 while the tests that need none of them run; those that need
# them run last and wait for .cache/cluster-parts.status (tests/fixtures/cluster_parts.py).
bash scripts/setup.sh --cluster-in-background
export ODAVL_CLUSTER_PARTS_STATUS="$ROOT/.cache/cluster-parts.status"
# shellcheck source=scripts/env.sh
source scripts/env.sh
# Tests use their own throwaway backends and passphrases; never the developer's local stack.
unset PULUMI_BACKEND_URL
junit="$(mktemp -t odavl-pytest-XXXXXX.xml)"
echo
echo "==> ruff"
.venv/bin/ruff check .
echo
echo "==> pytest"
set +e
.venv/bin/python -m pytest --junitxml="$junit" --durations=40 "$@"
code=$?
# The skip count, always (also 0): a skipped test is a check that did not run.
echo
.venv/bin/python tools/skipped_tests.py "$junit"
set -e
# pytest's exit 5 means "no tests collected": that is a failure of this command, not a pass.
[ "$code" -eq 5 ] && { echo "error: no tests were collected" >&2; exit 1; }
exit "$code"
