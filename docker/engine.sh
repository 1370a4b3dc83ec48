# shellcheck shell=bash
# Sourced by docker/build-image.sh, docker/smoke.sh: picks the container engine and makes podman work
# on hosts whose defaults cannot start a container.
#
#   ENGINE=podman|docker   force one (default: docker when its daemon answers, else podman)

DOCKER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this file
REPO_ROOT=$(cd "$DOCKER_DIR/.." && pwd)
BASE_IMAGE_LOCAL=${BASE_IMAGE_LOCAL:-localhost/llmops-base:3.11-bookworm}
IMAGE=${IMAGE:-localhost/llmops:local}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

engine_pick() {
    if [ -z "${ENGINE:-}" ]; then
        if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
            ENGINE=docker
        elif command -v podman >/dev/null 2>&1; then
            ENGINE=podman
        else
            die "no container engine: install podman (apt-get install podman) or start Docker"
        fi
    fi
    command -v "$ENGINE" >/dev/null 2>&1 || die "ENGINE=$ENGINE is not installed"
    export ENGINE
}

# engine_probe IMAGE: start a throw-away container from IMAGE (running `true`). When podman's defaults fail, retry with
# docker/podman-sandbox.conf (runc, cgroupfs, lower rlimits) and keep it for the rest of the script
# (and for the podman commands it runs, including podman-compose's).
engine_probe() {
    local image=$1 out
    if out=$("$ENGINE" run --rm --entrypoint true "$image" 2>&1); then
        return 0
    fi
    if [ "$ENGINE" = podman ] && [ -z "${CONTAINERS_CONF:-}" ]; then
        log "podman run failed with its defaults: ${out##*$'\n'}"
        export CONTAINERS_CONF="$DOCKER_DIR/podman-sandbox.conf"
        if out=$("$ENGINE" run --rm --entrypoint true "$image" 2>&1); then
            log "podman runs containers with CONTAINERS_CONF=$CONTAINERS_CONF"
            return 0
        fi
    fi
    die "$ENGINE cannot start a container from $image: $out"
}

# base_recipe: a fingerprint of docker/make-base.sh, stored as a label on the base it makes, so that
# build-image.sh remakes a base made by an older version of the script.
base_recipe() {
    sha256sum "$DOCKER_DIR/make-base.sh" | cut -c1-16
}

image_size_mb() {
    "$ENGINE" image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f", $1 / 1000000}'
}
