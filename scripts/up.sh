#!/usr/bin/env bash
# The main job: `pulumi up` of a stack (default: local) after setting everything up.
#   bash scripts/up.sh                 # the local stack: PostgreSQL, reference app, indexes,
#                                      # a local Locust fleet, the staged test and its verdict
#   bash scripts/up.sh local --diff    # extra arguments go to `pulumi up`
#   bash scripts/cluster.sh up && bash scripts/up.sh cluster
#                                      # the staging path on this machine's own Kubernetes
#   ODAVL_ALLOW_PRODUCTION_RUN=production bash scripts/up.sh production
#                                      # a production load test needs that permission, per run
# Exit codes: 0 verdict pass (or warn), non-zero when the SLO gate fails (sloEnforce) or the
# update itself fails. Outputs stay readable either way: `pulumi stack output --json`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK="${1:-local}"
shift || true
# The local stack needs no cluster tooling: its set-up skips the kubernetes plugin build.
if [ "$STACK" = local ]; then bash scripts/setup.sh --local; else bash scripts/setup.sh; fi
# shellcheck source=scripts/env.sh
source scripts/env.sh
if [ "$STACK" = cluster ]; then
  # The cluster stack runs on the cluster scripts/cluster.sh starts, from the fleet image built
  # here; the image is imported under the fixed name Pulumi.cluster.yaml gives.
  if ! bash scripts/cluster.sh status >/dev/null 2>&1; then
    echo "error: the cluster stack needs the local Kubernetes cluster: run bash scripts/cluster.sh up" >&2
    exit 1
  fi
  image="$(bash scripts/fleet_image.sh build | tail -n 1)"  # cached when this checkout's image exists
  bash scripts/cluster.sh load-image ".state/images/fleet-${image##*:}.tar" localhost/odavl-perf/fleet:local
fi
pulumi stack select --create "$STACK" >/dev/null
# Every stack but local is updated through the policy pack (target allow-list, production guard,
# safe index SQL, bounded fleet pods, pinned charts, secrets): it cannot be left out here.
policy=()
if [ "$STACK" != local ]; then policy=(--policy-pack "$ROOT/policies"); fi
pulumi up --yes --stack "$STACK" "${policy[@]}" "$@"
