#!/usr/bin/env bash
# The test command: sets everything up (scripts/setup.sh), then runs ruff and the whole suite
# (unit tests with Pulumi mocks, integration tests against real PostgreSQL, Prometheus,
# InfluxDB, Locust and the Pulumi engine, each started by the tests on loopback).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -k settings`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
# Tests use their own throwaway backends and passphrases; never the developer's local stack.
unset PULUMI_BACKEND_URL
echo
echo "==> ruff"
.venv/bin/ruff check .
echo
echo "==> pytest"
junit="$(mktemp -t odavl-pytest-XXXXXX.xml)"
# The cluster tests start the local Kubernetes cluster (scripts/cluster.sh) when it is not
# running; a cluster this command started is stopped again at its end, one already running is
# left as it was.
cluster_was_running=false
bash scripts/cluster.sh status >/dev/null 2>&1 && cluster_was_running=true
finish() {
  rm -f "$junit"
  if [ "$cluster_was_running" = false ] && [ -d .state/cluster ]; then
    echo "==> stopping the local cluster the tests started"
    bash scripts/cluster.sh down || true
  fi
}
trap finish EXIT
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
