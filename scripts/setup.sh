#!/usr/bin/env bash
# Installs everything odavl-perf needs on a fresh Debian machine, and nothing twice:
#   1. Debian packages: PostgreSQL server, Prometheus (with promtool), InfluxDB 1.x, wrk, Chromium,
#      openssl (the kubeconfig tests make throwaway certificates with it)
#   2. the Pulumi engine: CLI, Python SDK wheel, Python language host, dynamic-provider shim,
#      built from the Go module proxy when no matching CLI is installed (cached in ~/.pulumi)
#   3. the virtualenv .venv with every pinned Python package (requirements.txt)
#   4. actionlint (workflow linter), built from the Go module proxy
#   5. Google's web-vitals library for the browser users (npm tarball, integrity pinned in
#      scripts/web_vitals.env), and the Chromium version found
# Safe to rerun: each step checks what is already there first. Prints a timing summary.
#   bash scripts/setup.sh           # everything (what the tests need)
#   bash scripts/setup.sh --local   # only what the local stack's `pulumi up` needs: skips the
#                                   # kubernetes plugin (the cluster stacks only) and actionlint
#   bash scripts/setup.sh --cluster-in-background
#                                   # everything, but the parts only the cluster stacks use
#                                   # (scripts/cluster_parts.sh: Kubernetes binaries, kubernetes
#                                   # plugin, fleet image) go on building at the lowest CPU
#                                   # priority after it returns (what scripts/test.sh runs: the
#                                   # tests that need them run last and wait for them)
set -euo pipefail
SCOPE=all
BACKGROUND_CLUSTER=false
case "${1:-}" in
  "") ;;
  --local) SCOPE=local ;;
  --cluster-in-background) BACKGROUND_CLUSTER=true ;;
  *) echo "error: unknown argument '$1': expected no argument (everything), --local or --cluster-in-background" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/pulumi_versions.env
source scripts/pulumi_versions.env
PULUMI_BIN="${HOME}/.pulumi/bin"
CACHE="$ROOT/.cache"
mkdir -p "$CACHE/wheels" "$CACHE/bin" "$PULUMI_BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
START=$(date +%s)
step() { printf '\n==> %s\n' "$*"; }
took() { printf '    (%ss)\n' "$(( $(date +%s) - $1 ))"; }

# ---------------------------------------------------------------------------- 1. Debian packages
step "Debian packages"
t=$(date +%s)
APT_PACKAGES=(postgresql postgresql-contrib prometheus influxdb wrk chromium openssl)
# The fleet image is built here without a registry (scripts/fleet_image.sh): buildah runs its
# steps with runc (crun fails on this kernel's cgroups), on a base made by mmdebstrap.
# The local cluster's node packages too (scripts/kubernetes_versions.env), installed here so its
# background build below never needs apt at the same time as a later step.
if [ "$SCOPE" != local ]; then
  # shellcheck source=scripts/kubernetes_versions.env
  source scripts/kubernetes_versions.env
  # shellcheck disable=SC2206 # a space-separated list of package names
  APT_PACKAGES+=(buildah mmdebstrap runc $CLUSTER_APT_PACKAGES)
  # The benchmarks' static target (bench/locust_overhead_paired.py, bench/open_model_rate.py).
  APT_PACKAGES+=(nginx-light)
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "    installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "    all present"
fi
# Debian starts the packaged services on install; the project runs its own on free loopback
# ports, so the system-wide ones are stopped to keep the machine quiet and ports free.
for svc in postgresql prometheus influxdb nginx; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
took "$t"

# The local cluster's Kubernetes binaries (full set-up only): a build of minutes that needs
# nothing from the steps below, so it starts now, in the background, and is awaited at the end.
# Nothing is built when they are cached (scripts/cluster.sh build returns at once).
K8S_BUILD_PID=""
if [ "$SCOPE" != local ] && [ "$BACKGROUND_CLUSTER" = false ]; then
  bash scripts/cluster.sh build > "$CACHE/kubernetes-build.log" 2>&1 &
  K8S_BUILD_PID=$!
fi
# --cluster-in-background: all of the cluster parts, from now on, in a session of their own at
# the idle scheduling class (else nice 19), so they take only the CPU the set-up and the tests
# leave; they outlive this script.
if [ "$BACKGROUND_CLUSTER" = true ]; then
  rm -f "$CACHE/cluster-parts.status"
  low_priority=(nice -n 19)
  if chrt --idle 0 true 2>/dev/null; then low_priority=(chrt --idle 0 nice -n 19); fi
  setsid "${low_priority[@]}" bash scripts/cluster_parts.sh background > "$CACHE/cluster-parts.log" 2>&1 < /dev/null &
  echo "$!" > "$CACHE/cluster-parts.pid"
fi

# ---------------------------------------------------------------------------- 2. Pulumi engine
step "Pulumi CLI ${PULUMI_VERSION}"
t=$(date +%s)
current=""
if [ -x "$PULUMI_BIN/pulumi" ]; then current="$("$PULUMI_BIN/pulumi" version 2>/dev/null || true)"; fi
if [ "$current" != "v${PULUMI_VERSION}" ] && command -v pulumi >/dev/null; then
  onpath="$(pulumi version 2>/dev/null || true)"
  if [ "$onpath" = "v${PULUMI_VERSION}" ]; then ln -sf "$(command -v pulumi)" "$PULUMI_BIN/pulumi"; current="$onpath"; fi
fi
CLI_BUILD_PID=""
if [ "$current" = "v${PULUMI_VERSION}" ]; then
  echo "    cached: $PULUMI_BIN/pulumi $current"
else
  echo "    trying the official installer"
  if curl -fsSL --max-time 15 https://get.pulumi.com -o "$CACHE/get-pulumi.sh" 2>/dev/null \
     && sh "$CACHE/get-pulumi.sh" --version "$PULUMI_VERSION" --no-edit-path >/dev/null 2>&1 \
     && [ "$("$PULUMI_BIN/pulumi" version 2>/dev/null)" = "v${PULUMI_VERSION}" ]; then
    echo "    installed by the official installer"
  else
    command -v go >/dev/null || { echo "error: the Go toolchain is needed to build the Pulumi CLI" >&2; exit 1; }
    # The build takes minutes and needs nothing from the next steps: it runs in the background
    # while they do (the virtualenv above all), and is awaited before the CLI is first used.
    # It writes to a temporary name, so an interrupted build never leaves a broken CLI behind.
    echo "    installer unreachable: building from the Go module proxy in the background (log: .cache/pulumi-cli-build.log)"
    (cd tools/pulumi-cli && go build -trimpath -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}" \
      -o "$PULUMI_BIN/pulumi.partial" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
      && mv "$PULUMI_BIN/pulumi.partial" "$PULUMI_BIN/pulumi") > "$CACHE/pulumi-cli-build.log" 2>&1 &
    CLI_BUILD_PID=$!
  fi
fi
took "$t"

# Waits for the background CLI build, if one runs; a failed build stops the set-up with its log.
await_cli() {
  [ -n "$CLI_BUILD_PID" ] || return 0
  step "Pulumi CLI ${PULUMI_VERSION}: waiting for the background build"
  local t0; t0=$(date +%s)
  if ! wait "$CLI_BUILD_PID"; then
    tail -n 30 "$CACHE/pulumi-cli-build.log" >&2
    echo "error: building the Pulumi CLI ${PULUMI_VERSION} failed (log above: .cache/pulumi-cli-build.log)" >&2
    exit 1
  fi
  CLI_BUILD_PID=""
  took "$t0"
}

# The SDK module holds the Python SDK, its program runner and the dynamic-provider shim, all of
# the same release as the CLI.
step "Pulumi Python SDK, language host and dynamic-provider shim"
t=$(date +%s)
(cd tools/pulumi-cli && go mod download "github.com/pulumi/pulumi/sdk/v3@v${PULUMI_VERSION}")
SDK_DIR="$(go env GOMODCACHE)/github.com/pulumi/pulumi/sdk/v3@v${PULUMI_VERSION}"
install -m 0755 "$SDK_DIR/python/cmd/pulumi-language-python-exec" "$PULUMI_BIN/pulumi-language-python-exec"
install -m 0755 "$SDK_DIR/python/dist/pulumi-resource-pulumi-python" "$PULUMI_BIN/pulumi-resource-pulumi-python"
cat > "$PULUMI_BIN/pulumi-language-python" <<EOF
#!/bin/sh
# The Python language host of odavl-perf (tools/pulumi_language_python.py), run by the
# virtualenv of the project Pulumi runs in (its working directory), else of the last checkout
# that ran scripts/setup.sh.
root="\$PWD"
[ -x "\$root/.venv/bin/python" ] && [ -f "\$root/tools/pulumi_language_python.py" ] || root="$ROOT"
exec "\$root/.venv/bin/python" "\$root/tools/pulumi_language_python.py" "\$@"
EOF
chmod 0755 "$PULUMI_BIN/pulumi-language-python"
WHEEL="$CACHE/wheels/pulumi-${PULUMI_VERSION}-py3-none-any.whl"
if [ ! -f "$WHEEL" ]; then
  python3 -m venv "$CACHE/build-venv"
  "$CACHE/build-venv/bin/pip" install -q --disable-pip-version-check "hatchling==1.33.0"
  rm -rf "$CACHE/sdk-src" && cp -r "$SDK_DIR/python" "$CACHE/sdk-src" && chmod -R u+w "$CACHE/sdk-src"
  "$CACHE/build-venv/bin/pip" wheel -q --no-deps --no-build-isolation -w "$CACHE/wheels" "$CACHE/sdk-src"
fi
took "$t"

# ---------------------------------------------------------------------------- 3. virtualenv
step "Python virtualenv .venv"
t=$(date +%s)
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=".venv/.requirements.sha256"
want="$(cat requirements.txt scripts/pulumi_versions.env | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --find-links "$CACHE/wheels" -r requirements.txt
  echo "$want" > "$stamp"
else
  echo "    up to date"
fi
took "$t"

# ---------------------------------------------------------------------------- 4. actionlint
step "actionlint"
t=$(date +%s)
if [ "$SCOPE" = local ]; then
  echo "    skipped (--local: only the tests use it)"
elif [ ! -x "$CACHE/bin/actionlint" ]; then
  GOBIN="$CACHE/bin" go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
else
  echo "    cached"
fi
took "$t"

# ---------------------------------------------------------------------------- 5. web-vitals
# Google's web-vitals library, injected by the browser users into every page they visit. The
# npm tarball is kept in .cache/web-vitals/ and used only when its sha512 is the integrity pinned
# in scripts/web_vitals.env; the IIFE build is extracted next to it for loadtests/suite/browser/driver.py.
# shellcheck source=scripts/web_vitals.env
source scripts/web_vitals.env
step "web-vitals ${WEB_VITALS_VERSION} for the browser users"
t=$(date +%s)
WV_DIR="$CACHE/web-vitals"
WV_TARBALL="$WV_DIR/web-vitals-${WEB_VITALS_VERSION}.tgz"
WV_SCRIPT="$WV_DIR/web-vitals-${WEB_VITALS_VERSION}.iife.js"
# npm's integrity format: "sha512-" and the base64 digest of the tarball.
wv_integrity() {
  python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"
}
mkdir -p "$WV_DIR"
if [ -f "$WV_TARBALL" ] && [ "$(wv_integrity "$WV_TARBALL")" != "$WEB_VITALS_INTEGRITY" ]; then
  echo "    cached tarball does not match the pinned integrity: fetching it again"
  rm -f "$WV_TARBALL" "$WV_SCRIPT"
fi
if [ ! -f "$WV_TARBALL" ]; then
  if ! command -v npm >/dev/null; then
    echo "    installing npm (Debian package) to fetch the tarball"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  packed="$(cd "$WV_DIR" && npm pack --silent "web-vitals@${WEB_VITALS_VERSION}")"
  [ "$WV_DIR/$packed" = "$WV_TARBALL" ] || mv "$WV_DIR/$packed" "$WV_TARBALL"
  got="$(wv_integrity "$WV_TARBALL")"
  if [ "$got" != "$WEB_VITALS_INTEGRITY" ]; then
    rm -f "$WV_TARBALL"
    echo "error: web-vitals@${WEB_VITALS_VERSION} from npm has integrity $got, scripts/web_vitals.env pins $WEB_VITALS_INTEGRITY" >&2
    exit 1
  fi
  rm -f "$WV_SCRIPT"
  echo "    fetched $(basename "$WV_TARBALL") (integrity verified)"
fi
if [ ! -f "$WV_SCRIPT" ]; then
  # Extracted to a temporary name first, so an interrupted run never leaves half a script.
  tar -xzOf "$WV_TARBALL" "$WEB_VITALS_BUILD" > "$WV_SCRIPT.tmp"
  mv "$WV_SCRIPT.tmp" "$WV_SCRIPT"
  echo "    extracted $WEB_VITALS_BUILD"
else
  echo "    cached (integrity verified)"
fi
# The browser users run the Debian Chromium; its version decides which metrics it can report.
echo "    Chromium: $(chromium --version 2>/dev/null || echo 'not installed (Debian package chromium)')"
took "$t"

await_cli

if [ "$BACKGROUND_CLUSTER" = true ]; then
  step "Kubernetes binaries, kubernetes plugin and fleet image"
  echo "    building in the background at the lowest CPU priority (pid $(cat "$CACHE/cluster-parts.pid"), log: .cache/cluster-parts.log);"
  echo "    .cache/cluster-parts.status holds its exit code once it ends"
else
  # The kubernetes resource plugin, for rendering the cluster stacks' manifests.
  step "Pulumi kubernetes plugin ${KUBERNETES_PROVIDER_VERSION}"
  t=$(date +%s)
  if [ "$SCOPE" = local ]; then
    echo "    skipped (--local: only the cluster stacks use it)"
  else
    bash scripts/cluster_parts.sh plugin
  fi
  took "$t"

  # The single-node Kubernetes cluster of the `cluster` stack and its tests (scripts/cluster.sh):
  # its binaries, built once from the pinned module release and cached outside the checkout.
  step "Kubernetes binaries for the local cluster"
  t=$(date +%s)
  if [ "$SCOPE" = local ]; then
    echo "    skipped (--local: only the cluster stack and its tests use them)"
  elif ! wait "$K8S_BUILD_PID"; then
    tail -n 30 "$CACHE/kubernetes-build.log" >&2
    echo "error: building the Kubernetes binaries failed (log above: .cache/kubernetes-build.log)" >&2
    exit 1
  else
    tail -n 2 "$CACHE/kubernetes-build.log"
  fi
  took "$t"

  step "The fleet image (images/fleet/Containerfile)"
  t=$(date +%s)
  if [ "$SCOPE" = local ]; then
    echo "    skipped (--local: only the cluster stack and its tests use it)"
  else
    image="$(bash scripts/fleet_image.sh build | tail -n 1)"
    echo "    $image (.state/images/fleet-${image##*:}.tar)"
  fi
  took "$t"
fi

printf '\nsetup finished in %ss: %s\n' "$(( $(date +%s) - START ))" "$("$PULUMI_BIN/pulumi" version)"
