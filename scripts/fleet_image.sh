#!/usr/bin/env bash
# The Locust fleet's image (images/fleet/Containerfile), built on this machine without pulling
# anything from a container registry, and written as an oci-archive a local cluster can load.
#
#   scripts/fleet_image.sh build [--output PATH]   build (or reuse) the image; the last line of
#                                                  stdout is its reference
#   scripts/fleet_image.sh reference               the reference a build would produce, no build
#   scripts/fleet_image.sh archive                 the archive a build would write, no build
#
# 1. The base: a Debian bookworm root filesystem with Python made by mmdebstrap from the Debian
#    mirror, committed as localhost/odavl-perf/debian-base:bookworm. It is cached as an
#    oci-archive under ${XDG_CACHE_HOME:-$HOME/.cache}/odavl-perf/images/, keyed by a hash of
#    what makes it (mirrors, packages, options), and reused by every later build.
# 2. The image: `buildah bud --pull=never` on that base. Its tag is a hash of everything that
#    goes into it (Containerfile, ignore list, requirements-fleet.txt, the loadtests/ and
#    examples/scenarios/ files, the base's key): changed code is a new tag.
# 3. The archive: .state/images/fleet-<tag>.tar (or --output PATH). When it exists the build
#    is skipped. The newest KEEP_ARCHIVES (3) archives of .state/images/ and their tags stay;
#    older ones are removed (each is ~70 MB).
#
# Needs root (or a rootless buildah set-up) and the Debian packages buildah, mmdebstrap and
# runc. Progress goes to stderr. Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (the
# mirrors for the base), BUILDAH_ISOLATION (default oci with runc, or BUILDAH_RUNTIME; chroot
# where no OCI runtime can run), and the CA bundle pip trusts during the build: PIP_CERT or
# SSL_CERT_FILE, else the system bundle (a TLS-inspecting proxy the machine trusts is then
# trusted by the build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CONTAINERFILE="images/fleet/Containerfile"
IMAGE_REPO="localhost/odavl-perf/fleet"
BASE_REF="localhost/odavl-perf/debian-base:bookworm"
BASE_KEY_LABEL="org.odavl-perf.base-key"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/odavl-perf/images"
STATE_DIR=".state/images"
KEEP_ARCHIVES=3
# What the image copies besides the Containerfile (keep in step with .containerignore).
CONTEXT_FILES=(requirements-fleet.txt .containerignore "$CONTAINERFILE")
CONTEXT_DIRS=(loadtests examples/scenarios)

DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
BASE_SOURCES=(
  "deb $DEBIAN_MIRROR bookworm main"
  "deb $DEBIAN_MIRROR bookworm-updates main"
  "deb $DEBIAN_SECURITY_MIRROR bookworm-security main"
)
# minbase: essential packages and apt only; merged /usr as in Debian's own images (the hook
# installs usr-is-merged, not usrmerge and its Perl); no documentation, manuals or
# translations (the copyright files stay); no /etc/resolv.conf or hostname of this machine.
BASE_OPTIONS=(
  --variant=minbase
  --include=python3,python3-venv,ca-certificates
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --aptopt='APT::Install-Recommends "false"'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --customize-hook='printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" >"$1/etc/hosts"'
  --customize-hook=': >"$1/etc/resolv.conf"; rm -f "$1/etc/hostname"'
)

log() { echo "fleet_image: $*" >&2; }
die() { echo "fleet_image: error: $*" >&2; exit 1; }

usage() {
  echo "usage: scripts/fleet_image.sh build [--output PATH] | reference | archive" >&2
  exit 2
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: apt-get install $2"
}

sha256_of_stdin() { sha256sum | cut -d' ' -f1; }

# The base's key: a hash of every input of mmdebstrap (a new input is a new base).
base_key() {
  printf '%s\n' "base v1" "${BASE_SOURCES[@]}" "${BASE_OPTIONS[@]}" | sha256_of_stdin | cut -c1-16
}

# The image's tag: a hash of the base's key and of the build context's paths and contents.
content_tag() {
  local file
  for file in "${CONTEXT_FILES[@]}"; do
    [ -f "$file" ] || die "$file is missing: the image cannot be built without it"
  done
  {
    echo "base $(base_key)"
    sha256sum "${CONTEXT_FILES[@]}"
    find "${CONTEXT_DIRS[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256_of_stdin | cut -c1-12
}

# The CA bundle pip uses inside the build: the one this machine's pip or OpenSSL trusts.
ca_bundle() {
  local candidate
  for candidate in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then
      echo "$candidate"
      return
    fi
  done
}

base_in_store_has_key() {
  local key="$1" found
  found="$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$BASE_KEY_LABEL\"}}" \
    "$BASE_REF" 2>/dev/null || true)"
  [ "$found" = "$key" ]
}

# localhost/odavl-perf/debian-base:bookworm in buildah's store, from the cache or made anew.
ensure_base() {
  local key archive work ctr id
  key="$(base_key)"
  archive="$CACHE_DIR/debian-base-bookworm-$key.tar"
  if base_in_store_has_key "$key"; then
    log "base $BASE_REF (key $key) is in buildah's store"
    return
  fi
  if [ -f "$archive" ]; then
    log "base: loading the cached $archive"
    id="$(buildah pull --quiet "oci-archive:$archive")" \
      || die "cannot load $archive into buildah's store (delete it to make the base anew)"
    buildah tag "$id" "$BASE_REF"
    return
  fi
  need mmdebstrap mmdebstrap
  [ -d /usr/share/mmdebstrap/hooks/merged-usr ] \
    || die "mmdebstrap's merged-usr hook is missing: apt-get install --reinstall mmdebstrap"
  mkdir -p "$CACHE_DIR"
  work="$(mktemp -d "$CACHE_DIR/.base-XXXXXX")"
  # shellcheck disable=SC2064  # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  log "base: mmdebstrap bookworm from $DEBIAN_MIRROR (a few minutes, once)"
  mmdebstrap --quiet "${BASE_OPTIONS[@]}" bookworm "$work/rootfs.tar" "${BASE_SOURCES[@]}" >&2 \
    || die "mmdebstrap failed (is $DEBIAN_MIRROR reachable? set DEBIAN_MIRROR to another mirror)"
  ctr="$(buildah from scratch)"
  buildah add --quiet "$ctr" "$work/rootfs.tar" / >/dev/null
  buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd /bin/bash \
    --label "$BASE_KEY_LABEL=$key" \
    "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE_REF" >/dev/null
  buildah push --quiet "$BASE_REF" "oci-archive:$work/base.tar:$BASE_REF"
  mv "$work/base.tar" "$archive"
  rm -rf "$work"
  trap - EXIT
  log "base: made $BASE_REF, cached as $archive"
}

# Older archives of .state/images/ and their tags in buildah's store (one per code change).
prune_old_archives() {
  local old tag
  find "$STATE_DIR" -maxdepth 1 -name 'fleet-*.tar' -printf '%T@ %p\n' \
    | sort -rn | tail -n +$((KEEP_ARCHIVES + 1)) | cut -d' ' -f2- \
    | while read -r old; do
      tag="${old##*/fleet-}"
      tag="${tag%.tar}"
      rm -f "$old"
      buildah rmi "$IMAGE_REPO:$tag" >/dev/null 2>&1 || true
      log "removed the older $old"
    done
}

cmd_reference() {
  echo "$IMAGE_REPO:$(content_tag)"
}

cmd_archive() {
  echo "$STATE_DIR/fleet-$(content_tag).tar"
}

cmd_build() {
  local output="" tag ref archive tmp bundle
  while [ $# -gt 0 ]; do
    case "$1" in
      --output)
        [ $# -ge 2 ] || die "--output needs a path"
        output="$2"
        shift 2
        ;;
      --output=*)
        output="${1#--output=}"
        shift
        ;;
      *) die "unknown argument to build: $1 (usage: scripts/fleet_image.sh build [--output PATH])" ;;
    esac
  done
  need buildah buildah
  tag="$(content_tag)"
  ref="$IMAGE_REPO:$tag"
  archive="${output:-$STATE_DIR/fleet-$tag.tar}"
  if [ -f "$archive" ]; then
    log "$archive exists: nothing to build"
    echo "$ref"
    return
  fi
  ensure_base
  local volume=()
  bundle="$(ca_bundle)"
  if [ -n "$bundle" ]; then
    # Over the base's own bundle for the RUN steps only: the image keeps Debian's.
    volume=(--volume "$bundle:/etc/ssl/certs/ca-certificates.crt:ro")
  fi
  # runc, not crun, for the RUN steps: crun cannot run where cgroups are mounted in hybrid
  # v1/v2 mode, and buildah would pick it when both are installed.
  local isolation="${BUILDAH_ISOLATION:-oci}" runtime=()
  if [ "$isolation" = oci ]; then
    runtime=(--runtime "${BUILDAH_RUNTIME:-$(command -v runc || true)}")
    [ -n "${runtime[1]}" ] || die "runc is not installed: apt-get install runc (or set BUILDAH_ISOLATION=chroot)"
  fi
  log "building $ref"
  buildah bud \
    --pull=never \
    --layers \
    --network host \
    --isolation "$isolation" \
    "${runtime[@]}" \
    "${volume[@]}" \
    --build-arg "BASE_IMAGE=$BASE_REF" \
    -f "$CONTAINERFILE" \
    -t "$ref" \
    . >&2 || die "buildah bud failed (see above); inside a container without runc try BUILDAH_ISOLATION=chroot"
  mkdir -p "$(dirname "$archive")"
  tmp="$archive.partial"
  rm -f "$tmp"
  buildah push --quiet "$ref" "oci-archive:$tmp:$ref" || die "cannot write $archive"
  mv "$tmp" "$archive"
  log "wrote $archive ($(du -h "$archive" | cut -f1))"
  [ -n "$output" ] || prune_old_archives
  echo "$ref"
}

[ $# -ge 1 ] || usage
command="$1"
shift
case "$command" in
  build) cmd_build "$@" ;;
  reference)
    [ $# -eq 0 ] || usage
    cmd_reference
    ;;
  archive)
    [ $# -eq 0 ] || usage
    cmd_archive
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
