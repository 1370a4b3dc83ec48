#!/usr/bin/env bash
# Make a local stand-in for python:3.11-slim-bookworm from Debian packages, for machines that cannot
# pull from a container registry (only Debian's apt mirror is reachable).
#
#   docker/make-base.sh [IMAGE]        default IMAGE: localhost/llmops-base:3.11-bookworm ($BASE_IMAGE_LOCAL)
#
# Debian 12's python3 is 3.11, like the official image. Two differences from python:3.11-slim that the
# Dockerfile does not notice: Python lives in a virtual environment at /opt/python (Debian's own
# /usr/bin/python3 refuses `pip install` under PEP 668), and /opt/python/bin comes first on PATH, so
# `python` and `pip` resolve there as they do to /usr/local/bin in the official image.
# Needs root (mmdebstrap's root mode) and podman or docker to import the tarball.
set -euo pipefail

# shellcheck source=docker/engine.sh
. "$(dirname "$0")/engine.sh"
BASE=${1:-$BASE_IMAGE_LOCAL}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

engine_pick
command -v mmdebstrap >/dev/null || die "install mmdebstrap (apt-get install mmdebstrap)"
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap root mode)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# As in Debian's official images (docker-clean): apt keeps no package caches or downloaded .debs, so an
# `apt-get update && apt-get install` in the Dockerfile does not leave ~80 MB of pkgcache.bin behind.
cat > "$work/apt-docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF

started=$(date +%s)
log "make-base: mmdebstrap $SUITE (python3, python3-venv, ca-certificates) from $MIRROR"
# minbase: essential packages plus apt (the Dockerfile runs apt-get); the security suite as well so the
# image starts patched. Documentation and locales are dropped as in Debian's slim images.
# shellcheck disable=SC2016  # the hooks' $1 (the root directory) is mmdebstrap's to expand
mmdebstrap --variant=minbase --quiet \
    --include=python3,python3-venv,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='chroot "$1" python3 -m venv /opt/python' \
    --customize-hook='chroot "$1" /opt/python/bin/python -m pip --version' \
    --customize-hook="install -m 0644 $work/apt-docker-clean \"\$1\"/etc/apt/apt.conf.d/docker-clean" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$SUITE" "$work/rootfs.tar" \
    "deb $MIRROR $SUITE main" \
    "deb $MIRROR $SUITE-updates main" \
    "deb http://deb.debian.org/debian-security $SUITE-security main"

"$ENGINE" import \
    --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --change "LABEL io.llmops.make-base=$(base_recipe)" \
    "$work/rootfs.tar" "$BASE" >/dev/null 2>&1

engine_probe "$BASE"
log "make-base: $BASE from Debian $SUITE in $(( $(date +%s) - started ))s, $(image_size_mb "$BASE") MB:" \
    "$("$ENGINE" run --rm "$BASE" python --version 2>&1)," \
    "$("$ENGINE" run --rm "$BASE" ldd --version 2>&1 | sed -n 1p)"
