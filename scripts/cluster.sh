#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for the tests and the `cluster` stack:
# etcd, containerd (its own socket), kube-apiserver, kube-controller-manager, kube-scheduler and
# the kubelet, built from source (versions: scripts/kubernetes_versions.env) and run as root
# background processes (containerd and the kubelet mount file systems and make cgroups).
# Everything it creates lives under .state/cluster/ (PKI, etcd data, containerd root, kubelet
# root, logs, kubeconfig); the binaries are cached outside the checkout, per version, in
# ${XDG_CACHE_HOME:-~/.cache}/odavl-perf/kubernetes/<version>/. Its ports are fixed, so one
# cluster runs per machine. `up` on a cluster that is not healthy (a component stopped, a
# reboot, an earlier failed `up`) removes it and starts a new, empty one.
#
#   bash scripts/cluster.sh build                # build (or find cached) binaries and images
#   bash scripts/cluster.sh up                   # start it (fast when it already runs healthy)
#   bash scripts/cluster.sh status               # exit 0 only when every part runs, node Ready
#   bash scripts/cluster.sh down                 # stop everything, unmount, remove .state/cluster
#   bash scripts/cluster.sh load-image IMAGE.tar # import an OCI archive for the pods
#   bash scripts/cluster.sh kubectl ARGS...      # kubectl with the cluster's kubeconfig
#
# Network exposure: etcd, the API server (https://127.0.0.1:16443), the health ports of the
# controller manager and scheduler and containerd's exec/attach server listen on 127.0.0.1 only. The kubelet's port (10250) listens
# on the node IP, the machine's own interface address, because the API server must reach it
# there for pod logs and exec (a 127.x node address is refused). Pods that generate load run
# with hostNetwork and target 127.0.0.1; other pods get an address on an isolated bridge
# (odavl0: no address on the host, no route out), so they reach each other only. There is no
# kube-proxy: Service IPs do not route.
# Environment: ODAVL_CLUSTER_NODE_IP overrides the node IP (default: the source address of the
# default route).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/kubernetes_versions.env
source "$ROOT/scripts/kubernetes_versions.env"

STATE="$ROOT/.state/cluster"
PKI="$STATE/pki"
LOGS="$STATE/logs"
RUN="$STATE/run"
KUBECONFIG_FILE="$STATE/kubeconfig"
CONTAINERD_SOCK="$STATE/containerd/containerd.sock"
CACHE_BASE="${XDG_CACHE_HOME:-$HOME/.cache}/odavl-perf/kubernetes"
KCACHE="$CACHE_BASE/$KUBERNETES_VERSION"
BIN="$KCACHE/bin"
PAUSE_ARCHIVE="$KCACHE/images/odavl-pause-${PAUSE_IMAGE##*:}.oci.tar"
# One cluster per machine: its ports are fixed. The lock serialises build/up/down across
# checkouts; it lives next to the cached binaries so `down` leaves nothing in the checkout.
LOCK_FILE="$CACHE_BASE/cluster.lock"

CLUSTER_NAME=odavl-local
NODE_NAME=odavl-node
API_PORT=16443
API_URL="https://127.0.0.1:${API_PORT}"
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380
CONTROLLER_MANAGER_PORT=10357
SCHEDULER_PORT=10359
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
POD_CIDR=10.244.0.0/24
POD_BRIDGE=odavl0
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
# Start order; `down` stops them in reverse.
COMPONENTS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet)
# The controllers the tests and the fleet need: service-account tokens, the default service
# account and kube-root-ca.crt (every pod mounts them), Jobs and their clean-up, namespaces,
# workloads, Service endpoints, node health and RBAC role aggregation.
CONTROLLERS=serviceaccount-token-controller,serviceaccount-controller,root-ca-certificate-publisher-controller
CONTROLLERS+=,garbage-collector-controller,namespace-controller,job-controller,cronjob-controller
CONTROLLERS+=,ttl-after-finished-controller,replicaset-controller,deployment-controller
CONTROLLERS+=,statefulset-controller,daemonset-controller,endpoints-controller,endpointslice-controller
CONTROLLERS+=,node-lifecycle-controller,taint-eviction-controller,pod-garbage-collector-controller
CONTROLLERS+=,clusterrole-aggregation-controller

usage() {
  cat >&2 <<'EOF'
usage: bash scripts/cluster.sh <command>
  build                 build (or find cached) the Kubernetes binaries and the pause image
  up                    start the local cluster (builds first); fast when already healthy
  status                show each component and the node; exit 0 only when all is healthy
  down                  stop the cluster and remove .state/cluster
  load-image ARCHIVE [ALIAS]
                        import an OCI image archive into the cluster's containerd (k8s.io),
                        and name it ALIAS too when given
  kubectl ARGS...       run kubectl against the cluster
EOF
}

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Takes the machine-wide cluster lock. Children must not inherit its descriptor (they would
# hold the lock for as long as they run): every background start closes fd 9.
take_lock() {
  mkdir -p "$CACHE_BASE"
  exec 9>"$LOCK_FILE"
  if ! flock -w 1200 9; then
    die "another scripts/cluster.sh still runs after 20 minutes (lock $LOCK_FILE)"
  fi
}

# ---------------------------------------------------------------------------- packages
ensure_packages() {
  local missing=() pkg
  for pkg in $CLUSTER_APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian starts the packaged daemons where it can; this cluster runs its own copies, so a
  # system-wide etcd or containerd is left alone (their default ports and sockets are not used).
  local etcd_v containerd_v
  etcd_v="$(dpkg-query -W -f='${Version}' etcd-server)"
  containerd_v="$(dpkg-query -W -f='${Version}' containerd)"
  [[ "$etcd_v" == "$ETCD_SERIES".* ]] || note "warning: etcd-server $etcd_v is not the $ETCD_SERIES series this cluster was checked with"
  [[ "$containerd_v" == "$CONTAINERD_SERIES".* ]] || note "warning: containerd $containerd_v is not the $CONTAINERD_SERIES series this cluster was checked with"
}

# ---------------------------------------------------------------------------- build
binaries_present() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

build_binaries() {
  if binaries_present; then
    note "binaries cached: $BIN"
    return 0
  fi
  command -v go >/dev/null || die "the Go toolchain is needed to build Kubernetes ${KUBERNETES_VERSION} (install Go 1.24 or newer)"
  say "building Kubernetes ${KUBERNETES_VERSION} from the Go module proxy (${GOPROXY:-$(go env GOPROXY)}); about 10 minutes on 2 cores"
  local t0 src log
  t0=$(date +%s)
  src="$KCACHE/src"
  log="$KCACHE/build.log"
  mkdir -p "$src"
  : > "$log"
  (
    # The build uses the caller's GOPROXY/GOPRIVATE/GOMODCACHE as they are; -trimpath keeps
    # local paths out of the binaries.
    export GOFLAGS=-trimpath
    cd "$src"
    cat > go.mod <<EOF
// Generated by scripts/cluster.sh: builds the ${KUBERNETES_MODULE} commands of ${KUBERNETES_VERSION}.
module odavl.local/kubernetes-build

go 1.24

require ${KUBERNETES_MODULE} ${KUBERNETES_VERSION}
EOF
    cat > tools.go <<'EOF'
//go:build tools

// Keeps the commands' packages (and so their dependencies) in go.mod and go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
EOF
    rm -f go.sum
    info="$(go mod download -json "${KUBERNETES_MODULE}@${KUBERNETES_VERSION}")"
    upstream_mod="$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
    build_date="$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Time") or "1970-01-01T00:00:00Z")')"
    # The staging modules are the `k8s.io/x => ./staging/...` replacements of the upstream go.mod.
    mapfile -t staging < <(grep -oE '^[[:space:]]*k8s\.io/[A-Za-z0-9._/-]+ => \./staging/' "$upstream_mod" | awk '{print $1}' | sort -u)
    ((${#staging[@]})) || { echo "no ./staging replacements found in $upstream_mod" >&2; exit 1; }
    {
      echo
      echo "replace ("
      for m in "${staging[@]}"; do printf '\t%s => %s %s\n' "$m" "$m" "$KUBERNETES_STAGING_VERSION"; done
      echo ")"
    } >> go.mod
    echo "replacing ${#staging[@]} staging modules with ${KUBERNETES_STAGING_VERSION}"
    go mod tidy
    # The version the components report (and clients such as the Pulumi provider check), as
    # the upstream release build stamps it.
    minor="${KUBERNETES_VERSION#v*.}"; minor="${minor%%.*}"
    major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
    # -s -w: no symbol tables, as in the upstream release build (a third smaller).
    ldflags="-s -w"
    for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
      ldflags+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor}"
      ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
    done
    # Built into a scratch directory and moved into place only when all succeeded, so an
    # interrupted build never leaves a partial set that looks cached.
    rm -rf "$KCACHE/bin.partial"
    mkdir -p "$KCACHE/bin.partial"
    go build -ldflags "$ldflags" -o "$KCACHE/bin.partial/" \
      "${KUBERNETES_MODULE}/cmd/kube-apiserver" "${KUBERNETES_MODULE}/cmd/kube-controller-manager" \
      "${KUBERNETES_MODULE}/cmd/kube-scheduler" "${KUBERNETES_MODULE}/cmd/kubelet" "${KUBERNETES_MODULE}/cmd/kubectl"
  ) >> "$log" 2>&1 || {
    tail -n 30 "$log" >&2
    die "building Kubernetes ${KUBERNETES_VERSION} failed (log above: $log); check the Go toolchain and that GOPROXY serves ${KUBERNETES_MODULE}"
  }
  rm -rf "$BIN"
  mv "$KCACHE/bin.partial" "$BIN"
  note "built in $(( $(date +%s) - t0 ))s: $BIN"
}

# The sandbox image: a static program that sleeps until it is told to stop and reaps the
# orphans of the pod (the job of the upstream pause image). `-v` prints its version and exits,
# which makes it usable as a trivial workload too.
PAUSE_C='#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) { printf("odavl-pause " PAUSE_VERSION "\n"); return 0; }
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}'

build_pause_image() {
  if [ -s "$PAUSE_ARCHIVE" ]; then
    note "pause image cached: $PAUSE_ARCHIVE"
    return 0
  fi
  say "building the pause image ${PAUSE_IMAGE}"
  local tmp rc=0
  tmp="$(mktemp -d -t odavl-pause-XXXXXX)"
  mkdir -p "$(dirname "$PAUSE_ARCHIVE")"
  (
    set -e
    printf '%s\n' "$PAUSE_C" > "$tmp/pause.c"
    gcc -static -Os -s -DPAUSE_VERSION="\"${PAUSE_IMAGE##*:}\"" -o "$tmp/pause" "$tmp/pause.c"
    oci_archive_from_binary "$tmp" "$tmp/pause" /pause "$PAUSE_IMAGE" "$PAUSE_ARCHIVE.partial"
  ) > "$tmp/build.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$tmp/build.log" >&2
    rm -rf "$tmp" "$PAUSE_ARCHIVE.partial"
    die "building the pause image failed (output above); it needs gcc, libc6-dev and buildah"
  fi
  rm -rf "$tmp"
  mv "$PAUSE_ARCHIVE.partial" "$PAUSE_ARCHIVE"
  note "built $PAUSE_ARCHIVE"
}

# oci_archive_from_binary WORKDIR BINARY PATH_IN_IMAGE IMAGE_NAME ARCHIVE: a one-file image from
# scratch, made by buildah in a throwaway store (vfs: no mounts) inside WORKDIR, so the
# machine's own container storage is never touched.
oci_archive_from_binary() {
  local work="$1" binary="$2" target="$3" name="$4" archive="$5" ctr
  local b=(buildah --root "$work/storage" --runroot "$work/runroot" --storage-driver vfs)
  ctr="$("${b[@]}" from scratch)"
  "${b[@]}" copy "$ctr" "$binary" "$target"
  "${b[@]}" config --entrypoint "[\"$target\"]" "$ctr"
  "${b[@]}" commit --format oci --rm "$ctr" "$name"
  rm -f "$archive"
  "${b[@]}" push "$name" "oci-archive:$archive:$name"
  "${b[@]}" rmi -a -f >/dev/null || true
}

cmd_build() {
  take_lock
  ensure_packages
  build_binaries
  build_pause_image
}

# ---------------------------------------------------------------------------- processes
# A component runs when its pid file names a live process whose command line points into
# .state/cluster (so a recycled pid is never mistaken for it).
component_pid() {
  local pid
  pid="$(cat "$RUN/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STATE" || return 1
  printf '%s\n' "$pid"
}

# start_component NAME COMMAND...: in its own session (a caller's Ctrl-C or process-group kill
# does not stop the cluster), output to logs/NAME.log, pid in run/NAME.pid.
start_component() {
  local name="$1"; shift
  if component_pid "$name" >/dev/null; then
    note "$name already running"
    return 0
  fi
  note "starting $name"
  setsid "$@" > "$LOGS/$name.log" 2>&1 < /dev/null 9>&- &
  printf '%s\n' "$!" > "$RUN/$name.pid"
}

# Shows why a component could not start, and stops (the caller's `up` is then failed; the next
# `up` starts from a clean state).
component_failed() {
  local name="$1" why="$2"
  {
    printf 'error: %s did not start: %s\n' "$name" "$why"
    printf -- '--- last lines of %s\n' "$LOGS/$name.log"
    tail -n 25 "$LOGS/$name.log" 2>/dev/null || echo "(no log)"
    printf -- '---\n'
    echo "The cluster is left as it is for inspection; \`bash scripts/cluster.sh down\` removes it and \`up\` starts it again from scratch."
  } >&2
  exit 1
}

# wait_for NAME SECONDS CHECK...: polls CHECK until it succeeds; fails NAME when its process
# exits or the time is up.
wait_for() {
  local name="$1" limit="$2"; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if ! component_pid "$name" >/dev/null; then
      component_failed "$name" "the process exited"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      component_failed "$name" "not ready after ${limit}s ($*)"
    fi
    sleep 1
  done
}

port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

require_ports() {
  local port
  for port in "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$API_PORT" "$CONTROLLER_MANAGER_PORT" \
              "$SCHEDULER_PORT" "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT"; do
    port_free "$port" || die "port $port is already in use ($(ss -Htlnp "sport = :$port" | head -n1)); another cluster (another checkout's scripts/cluster.sh up?) must be stopped first"
  done
}

# The machine's own interface address: the source address of its default route.
detect_node_ip() {
  if [ -n "${ODAVL_CLUSTER_NODE_IP:-}" ]; then
    printf '%s\n' "$ODAVL_CLUSTER_NODE_IP"
    return 0
  fi
  local ip
  ip="$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1)"
  [ -n "$ip" ] || ip="$(ip -4 -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4; exit}')"
  [[ -n "$ip" && "$ip" != 127.* ]] || die "no non-loopback IPv4 address found for the kubelet's node IP (the API server cannot reach a kubelet on 127.x); set ODAVL_CLUSTER_NODE_IP"
  printf '%s\n' "$ip"
}

# ---------------------------------------------------------------------------- configuration
# new_cert NAME CN O EXTENSIONS: a key pair and a certificate signed by the cluster CA.
new_cert() {
  local name="$1" cn="$2" org="$3" ext="$4"
  local subj="/CN=${cn}"
  [ -z "$org" ] || subj="/O=${org}${subj}"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

CLIENT_EXT='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

generate_pki() {
  local node_ip="$1"
  mkdir -p "$PKI"
  chmod 0700 "$PKI"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=${CLUSTER_NAME}-ca" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null
  new_cert apiserver kube-apiserver "" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:${node_ip},IP:${SERVICE_IP}"
  new_cert kubelet-serving "$NODE_NAME" "" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:${NODE_NAME},DNS:localhost,IP:${node_ip},IP:127.0.0.1"
  new_cert admin odavl-admin system:masters "$CLIENT_EXT"
  new_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "$CLIENT_EXT"
  new_cert controller-manager system:kube-controller-manager "" "$CLIENT_EXT"
  new_cert scheduler system:kube-scheduler "" "$CLIENT_EXT"
  new_cert kubelet "system:node:${NODE_NAME}" system:nodes "$CLIENT_EXT"
  # Service-account tokens: signed with this key by the API server and the token controller.
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 0600 "$PKI"/*.key
}

# write_kubeconfig FILE CERT_NAME USER: certificates embedded, so the file alone is enough.
write_kubeconfig() {
  local file="$1" cert="$2" user="$3"
  (
    umask 077
    cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ${CLUSTER_NAME}
  cluster:
    server: ${API_URL}
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: ${user}
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 < "$PKI/$cert.key")
contexts:
- name: ${CLUSTER_NAME}
  context:
    cluster: ${CLUSTER_NAME}
    user: ${user}
    namespace: default
current-context: ${CLUSTER_NAME}
EOF
  )
}

write_containerd_config() {
  mkdir -p "$STATE/containerd/root" "$STATE/containerd/state" "$STATE/containerd/runc" "$STATE/cni/net.d"
  # Pods that need the network use the host's (hostNetwork). The others get an address on a
  # bridge that has none on the host and no route out (no gateway, no masquerading, no
  # iptables): they reach each other and nothing else.
  cat > "$STATE/cni/net.d/10-odavl-pods.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "odavl-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${POD_BRIDGE}",
      "isGateway": false,
      "ipMasq": false,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "${POD_CIDR}"}]], "dataDir": "${STATE}/cni/ipam"}
    }
  ]
}
EOF
  cat > "$STATE/containerd/config.toml" <<EOF
# Generated by scripts/cluster.sh: a containerd of its own (socket, root, state under
# .state/cluster), beside any system containerd.
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
# Plug-ins that would read or write outside .state/cluster, or that this node does not use.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The process cannot lower oom_score_adj (no CAP_SYS_RESOURCE), which the pod sandbox asks for.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  # exec/attach/port-forward are proxied by the kubelet to this server: loopback only.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "$(command -v runc)"
  Root = "$STATE/containerd/runc"
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$STATE/cni/net.d"
EOF
}

write_kubelet_config() {
  local node_ip="$1"
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  cat > "$STATE/kubelet-config.yaml" <<EOF
# Generated by scripts/cluster.sh.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The API server reaches the kubelet on the node IP (pod logs, exec); nothing else listens
# outside loopback.
address: ${node_ip}
port: ${KUBELET_PORT}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${KUBELET_HEALTHZ_PORT}
tlsCertFile: ${PKI}/kubelet-serving.crt
tlsPrivateKeyFile: ${PKI}/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${PKI}/ca.crt
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
imageServiceEndpoint: unix://${CONTAINERD_SOCK}
# The machine mounts cgroups in hybrid v1/v2 mode; no QoS cgroup hierarchy is set up.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
# Leaves the host's iptables alone.
makeIPTablesUtilChains: false
podLogsDir: ${STATE}/pod-logs
staticPodPath: ""
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
failSwapOn: false
# Images are imported, never pulled: keep them whatever the disk usage, and never evict pods
# for a disk that other jobs fill.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
serializeImagePulls: false
maxPods: 110
EOF
}

# ---------------------------------------------------------------------------- checks
kubectl_() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=5s "$@"; }
curl_api() {
  curl -fsS --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$API_URL$1"
}
check_etcd() { curl -fsS --max-time 3 "http://127.0.0.1:${ETCD_CLIENT_PORT}/health" | grep -q '"health":"true"'; }
check_containerd() { [ -S "$CONTAINERD_SOCK" ] && ctr --address "$CONTAINERD_SOCK" --timeout 3s version; }
check_apiserver() { [ "$(curl_api /readyz)" = ok ]; }
check_controller_manager() { [ "$(curl -kfsS --max-time 3 "https://127.0.0.1:${CONTROLLER_MANAGER_PORT}/healthz")" = ok ]; }
check_scheduler() { [ "$(curl -kfsS --max-time 3 "https://127.0.0.1:${SCHEDULER_PORT}/healthz")" = ok ]; }
check_kubelet() { [ "$(curl -fsS --max-time 3 "http://127.0.0.1:${KUBELET_HEALTHZ_PORT}/healthz")" = ok ]; }
check_component() {
  case "$1" in
    etcd) check_etcd ;;
    containerd) check_containerd ;;
    kube-apiserver) check_apiserver ;;
    kube-controller-manager) check_controller_manager ;;
    kube-scheduler) check_scheduler ;;
    kubelet) check_kubelet ;;
  esac
}
node_ready() {
  [ "$(kubectl_ get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
pods_can_start() {
  kubectl_ -n default get serviceaccount default && kubectl_ -n default get configmap kube-root-ca.crt
}

# Every component runs and answers its health check, and the node is Ready.
healthy() {
  local c
  [ -f "$KUBECONFIG_FILE" ] && binaries_present || return 1
  for c in "${COMPONENTS[@]}"; do
    component_pid "$c" >/dev/null && check_component "$c" >/dev/null 2>&1 || return 1
  done
  node_ready >/dev/null 2>&1
}

summary() {
  printf 'cluster %s up: node %s (%s), API %s, kubeconfig %s, containerd %s, %ss\n' \
    "$CLUSTER_NAME" "$NODE_NAME" "$(cat "$STATE/node-ip")" "$API_URL" "$KUBECONFIG_FILE" "$CONTAINERD_SOCK" "$1"
}

# ---------------------------------------------------------------------------- up
cmd_up() {
  local t0 node_ip
  t0=$(date +%s)
  [ "$(id -u)" -eq 0 ] || die "the cluster needs root: containerd and the kubelet mount file systems and make cgroups"
  take_lock
  if healthy; then
    summary "$(( $(date +%s) - t0 ))"
    return 0
  fi
  # Everything running but the node not (yet) Ready: give it a minute before starting over,
  # so a busy moment never wipes a cluster others use.
  if [ -f "$KUBECONFIG_FILE" ] && [ -f "$STATE/up.done" ]; then
    local all=1 c
    for c in "${COMPONENTS[@]}"; do component_pid "$c" >/dev/null || all=0; done
    if [ "$all" = 1 ]; then
      note "all components run; waiting up to 60s for the node to be Ready"
      local deadline=$(( $(date +%s) + 60 ))
      while [ "$(date +%s)" -lt "$deadline" ]; do
        if healthy; then summary "$(( $(date +%s) - t0 ))"; return 0; fi
        sleep 2
      done
    fi
  fi
  ensure_packages
  build_binaries
  build_pause_image
  # A cluster that is not healthy (stopped, half started, or after a reboot) is rebuilt from
  # scratch: cheaper and more predictable than repairing it.
  if [ -e "$STATE" ]; then
    say "removing the previous, unhealthy cluster state"
    teardown
  fi
  require_ports
  node_ip="$(detect_node_ip)"
  say "starting the cluster (node IP $node_ip)"
  mkdir -p "$STATE" "$LOGS" "$RUN"
  printf '%s\n' "$node_ip" > "$STATE/node-ip"
  generate_pki "$node_ip"
  write_kubeconfig "$KUBECONFIG_FILE" admin odavl-admin
  write_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  write_kubeconfig "$STATE/scheduler.kubeconfig" scheduler system:kube-scheduler
  write_kubeconfig "$STATE/kubelet.kubeconfig" kubelet "system:node:${NODE_NAME}"
  write_containerd_config
  write_kubelet_config "$node_ip"
  # The components talk to each other directly, never through a proxy the caller may set.
  export NO_PROXY="127.0.0.1,localhost,${node_ip},${SERVICE_CIDR}${NO_PROXY:+,$NO_PROXY}"
  export no_proxy="$NO_PROXY"

  start_component etcd etcd --name "$NODE_NAME" --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster "${NODE_NAME}=http://127.0.0.1:${ETCD_PEER_PORT}" --initial-cluster-state new \
    --quota-backend-bytes 2147483648
  start_component containerd containerd --config "$STATE/containerd/config.toml"
  wait_for etcd 60 check_etcd
  wait_for containerd 60 check_containerd
  # The sandbox image is imported before the kubelet can ask for it.
  import_archive "$PAUSE_ARCHIVE" >/dev/null || component_failed containerd "importing the pause image $PAUSE_ARCHIVE failed"

  start_component kube-apiserver "$BIN/kube-apiserver" \
    --bind-address 127.0.0.1 --secure-port "$API_PORT" --advertise-address "$node_ip" \
    --etcd-servers "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --anonymous-auth=false --profiling=false \
    --cert-dir "$STATE/apiserver"
  wait_for kube-apiserver 120 check_apiserver

  start_component kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CONTROLLER_MANAGER_PORT" --cert-dir "$STATE/controller-manager" \
    --leader-elect=false --controllers "$CONTROLLERS" --use-service-account-credentials \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false
  start_component kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --cert-dir "$STATE/scheduler" \
    --leader-elect=false --profiling=false
  # The pods' bridge, made before the CNI plug-in would, without IPv6: so the host has no
  # address (not even link-local) on it that a pod could reach.
  ip link show "$POD_BRIDGE" >/dev/null 2>&1 || ip link add "$POD_BRIDGE" type bridge \
    || die "cannot create the pods' bridge $POD_BRIDGE (ip link add $POD_BRIDGE type bridge)"
  if [ -e "/proc/sys/net/ipv6/conf/$POD_BRIDGE/disable_ipv6" ]; then
    echo 1 > "/proc/sys/net/ipv6/conf/$POD_BRIDGE/disable_ipv6"
  fi
  ip link set "$POD_BRIDGE" up
  start_component kubelet "$BIN/kubelet" \
    --config "$STATE/kubelet-config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$node_ip"
  wait_for kube-controller-manager 60 check_controller_manager
  wait_for kube-scheduler 60 check_scheduler
  wait_for kubelet 60 check_kubelet
  wait_for kubelet 120 node_ready
  wait_for kube-controller-manager 60 pods_can_start
  : > "$STATE/up.done"
  summary "$(( $(date +%s) - t0 ))"
}

import_archive() {
  ctr --address "$CONTAINERD_SOCK" --timeout 600s -n k8s.io images import "$1"
}

# The image name an OCI archive carries (buildah push ... oci-archive:FILE:NAME writes it).
archive_image_name() {
  tar -xOf "$1" index.json 2>/dev/null | python3 -c '
import json, sys
names = [m.get("annotations", {}).get("org.opencontainers.image.ref.name", "") for m in json.load(sys.stdin).get("manifests", [])]
print(next((n for n in names if n), ""))'
}

cmd_load_image() {
  local archive="${1:-}" alias="${2:-}"
  [ -n "$archive" ] || { usage; exit 2; }
  [ -f "$archive" ] || die "no such image archive: $archive"
  if ! component_pid containerd >/dev/null || ! check_containerd >/dev/null 2>&1; then
    die "the cluster's containerd does not run: start the cluster first (bash scripts/cluster.sh up)"
  fi
  import_archive "$archive"
  if [ -n "$alias" ]; then
    # A second name for the same image, e.g. the `cluster` stack's fixed one: the stack file
    # need not change with every build's content-addressed tag.
    local name
    name="$(archive_image_name "$archive")"
    [ -n "$name" ] || die "the archive $archive names no image (org.opencontainers.image.ref.name)"
    ctr --address "$CONTAINERD_SOCK" -n k8s.io images tag --force "$name" "$alias" >/dev/null
    echo "    tagged $name as $alias"
  fi
}

# ---------------------------------------------------------------------------- down
# The processes of this cluster: those in the pid files, any whose command line points into
# .state/cluster (containerd shims, leftovers of an earlier run), and all their descendants
# (the containers' processes).
cluster_pids() {
  local pid roots=() f
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null)" || continue
    [ -n "$pid" ] && alive "$pid" && roots+=("$pid")
  done
  # Only the cluster's own programs: a `tail -f` of one of its logs is left alone.
  local argv0
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}"; pid="${pid%/cmdline}"
    argv0="$(head -c 4096 "$f" 2>/dev/null | tr '\0' '\n' | head -n1)" || continue
    case "${argv0##*/}" in
      etcd|containerd|containerd-shim*|runc|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet) ;;
      *) continue ;;
    esac
    if tr '\0' ' ' < "$f" 2>/dev/null | grep -qF "$STATE/"; then roots+=("$pid"); fi
  done
  ((${#roots[@]})) || return 0
  ps -e -o pid=,ppid= | python3 -c '
import sys
roots = set(sys.argv[1:])
children = {}
for line in sys.stdin:
    pid, ppid = line.split()
    children.setdefault(ppid, []).append(pid)
seen, todo = set(), list(roots)
while todo:
    p = todo.pop()
    if p in seen:
        continue
    seen.add(p)
    todo.extend(children.get(p, []))
print("\n".join(sorted(seen, key=int)))
' "${roots[@]}"
}

# Whether a process lives: an exited one stays a zombie until init reaps it, which can take
# seconds here.
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}

# Waits up to $2 seconds for the processes $1 (space separated) to exit.
wait_gone() {
  local pids="$1" deadline=$(( $(date +%s) + $2 )) p alive
  while :; do
    alive=""
    for p in $pids; do alive "$p" && alive+=" $p"; done
    [ -z "$alive" ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

stop_pid() {
  local pid="$1" timeout="$2"
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" "$timeout" || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
}

teardown() {
  local pid netns=() ids="" id
  # The kubelet first, so nothing restarts the containers; then the containers themselves
  # through containerd (which removes their cgroups), while it still runs.
  if pid="$(component_pid kubelet)"; then stop_pid "$pid" 15; fi
  if component_pid containerd >/dev/null && [ -S "$CONTAINERD_SOCK" ]; then
    local c=(ctr --address "$CONTAINERD_SOCK" --timeout 10s -n k8s.io)
    ids="$("${c[@]}" containers ls -q 2>/dev/null || true)"
    for id in $ids; do
      # Pod network namespaces are bind mounts under /run/netns: noted here, removed below.
      while IFS= read -r ns; do [ -n "$ns" ] && netns+=("$ns"); done < <("${c[@]}" containers info "$id" 2>/dev/null | python3 -c '
import json, sys
try:
    spec = json.load(sys.stdin).get("Spec") or {}
except ValueError:
    sys.exit(0)
for ns in (spec.get("linux") or {}).get("namespaces") or []:
    if ns.get("type") == "network" and ns.get("path", "").startswith(("/run/netns/", "/var/run/netns/")):
        print(ns["path"])
')
    done
    for id in $ids; do "${c[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $ids; do
      local tries=0
      until "${c[@]}" tasks delete "$id" >/dev/null 2>&1 || [ "$tries" -ge 10 ] \
            || ! "${c[@]}" tasks ls -q 2>/dev/null | grep -qx "$id"; do
        tries=$((tries + 1)); sleep 0.5
      done
    done
  fi
  # Then the control plane and the rest, newest first.
  local i
  for (( i=${#COMPONENTS[@]}-1; i>=0; i-- )); do
    if pid="$(component_pid "${COMPONENTS[$i]}")"; then stop_pid "$pid" 15; fi
  done
  # Whatever is left (shims, orphaned container processes, an earlier run's leftovers).
  local left
  left="$(cluster_pids | tr '\n' ' ')"
  if [ -n "${left// /}" ]; then
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
    if ! wait_gone "$left" 10; then
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null || true
      wait_gone "$left" 10 || true
    fi
  fi
  # Mounts under .state/cluster (container root file systems, shm, pod volumes), deepest
  # first; /proc/mounts escapes spaces as \040.
  local mnt tries
  for tries in 1 2 3; do
    mapfile -t mounts < <(awk -v s="$STATE/" 'index($2, s) == 1 || $2 == substr(s, 1, length(s) - 1) { print $2 }' /proc/mounts \
      | sed 's/\\040/ /g' | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
    ((${#mounts[@]})) || break
    for mnt in "${mounts[@]}"; do umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true; done
  done
  for mnt in "${netns[@]}"; do
    umount "$mnt" 2>/dev/null || true
    rm -f "$mnt"
  done
  # The containers' cgroups (containerd's default parent k8s.io/, per container id): runc
  # removes them when a task is deleted; these are what a killed shim left. The parent goes
  # too when empty (rmdir never removes a cgroup that still has members or children).
  local cg
  for cg in /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io; do
    [ -d "$cg" ] || continue
    for id in $ids; do
      if [ -d "$cg/$id" ]; then rmdir "$cg/$id" 2>/dev/null || true; fi
    done
    rmdir "$cg" 2>/dev/null || true
  done
  # Directories containerd and its shims make at fixed places (shim sockets go to
  # /run/containerd/s whatever the state directory), removed when left empty: a system
  # containerd's are never empty.
  rmdir /run/netns /run/containerd/s /run/containerd 2>/dev/null || true
  # The pods' bridge (its veths went with the network namespaces).
  if ip link show "$POD_BRIDGE" >/dev/null 2>&1; then ip link delete "$POD_BRIDGE" 2>/dev/null || true; fi
  # The kubelet links container logs from the fixed /var/log/containers into podLogsDir.
  if [ -d /var/log/containers ]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null || true
    rmdir /var/log/containers 2>/dev/null || true
  fi
  rm -rf "$STATE"
  if [ -e "$STATE" ]; then
    die "could not remove $STATE (still mounted: $(awk -v s="$STATE" 'index($2, s) == 1 { print $2 }' /proc/mounts | head -n3 | tr '\n' ' '))"
  fi
  left="$(cluster_pids | tr '\n' ' ')"
  [ -z "${left// /}" ] || die "processes of the cluster are still running: $left"
}

cmd_down() {
  take_lock
  if [ ! -e "$STATE" ] && [ -z "$(cluster_pids)" ]; then
    note "no cluster state: nothing to stop"
    return 0
  fi
  say "stopping the cluster"
  teardown
  note "stopped; $STATE removed"
}

# ---------------------------------------------------------------------------- status
cmd_status() {
  local ok=0 c pid
  for c in "${COMPONENTS[@]}"; do
    if pid="$(component_pid "$c")"; then
      if check_component "$c" >/dev/null 2>&1; then
        printf '%-24s running (pid %s)\n' "$c" "$pid"
      else
        printf '%-24s running (pid %s), not healthy\n' "$c" "$pid"; ok=1
      fi
    else
      printf '%-24s stopped\n' "$c"; ok=1
    fi
  done
  if [ -f "$KUBECONFIG_FILE" ] && [ -x "$BIN/kubectl" ]; then
    local ready
    ready="$(kubectl_ get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
    case "$ready" in
      True) printf '%-24s Ready\n' "node $NODE_NAME" ;;
      "") printf '%-24s unknown\n' "node $NODE_NAME"; ok=1 ;;
      *) printf '%-24s NotReady\n' "node $NODE_NAME"; ok=1 ;;
    esac
  else
    printf '%-24s unknown (no kubeconfig)\n' "node $NODE_NAME"; ok=1
  fi
  if [ -f "$KUBECONFIG_FILE" ]; then
    printf 'API %s, kubeconfig %s, containerd %s\n' "$API_URL" "$KUBECONFIG_FILE" "$CONTAINERD_SOCK"
  fi
  return "$ok"
}

# ---------------------------------------------------------------------------- main
main() {
  local cmd="${1:-}"
  [ "$#" -eq 0 ] || shift
  case "$cmd" in
    build) [ "$#" -eq 0 ] || { usage; exit 2; }; cmd_build ;;
    up) [ "$#" -eq 0 ] || { usage; exit 2; }; cmd_up ;;
    down) [ "$#" -eq 0 ] || { usage; exit 2; }; cmd_down ;;
    status) [ "$#" -eq 0 ] || { usage; exit 2; }; cmd_status ;;
    load-image) [ "$#" -eq 1 ] || [ "$#" -eq 2 ] || { usage; exit 2; }; cmd_load_image "$@" ;;
    kubectl)
      [ -x "$BIN/kubectl" ] || die "kubectl is not built yet: run bash scripts/cluster.sh build"
      exec "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@" ;;
    -h|--help|help) usage ;;
    *)
      [ -z "$cmd" ] || printf 'error: unknown command %s\n' "$cmd" >&2
      usage
      exit 2 ;;
  esac
}

main "$@"
