#!/usr/bin/env bash
# Build the llmops image with podman (or docker when its daemon answers): `make image`.
#
#   docker/build-image.sh
#
#   IMAGE=localhost/llmops:local   the tag to build
#   ENGINE=podman|docker           default: docker when its daemon answers, else podman
#   PYTHON_IMAGE=...               base image; default: python:3.11-slim-bookworm when it can be pulled,
#                                  else a stand-in made from Debian packages by docker/make-base.sh
#   BUILD_OPTS="..."               more options for `$ENGINE build` (e.g. --no-cache)
#   LLAMA_WHEEL=cache|portable|none
#       cache     (default) reuse a llama-cpp-python wheel: one already in docker/wheels/, else the
#                 newest in the host's pip cache (left there by `make install`), else as `portable`
#       portable  build one on the host with the Dockerfile's flags (GGML_NATIVE=OFF) into docker/wheels/
#       none      no prebuilt wheel: the image build compiles llama.cpp itself, as a plain `docker build`
#
# A wheel from the pip cache was compiled with the Makefile's CMAKE_ARGS, the Dockerfile's portable ones
# (GGML_NATIVE=OFF). One an older Makefile built natively may use instructions (AVX-512) other x86 machines
# lack: the script says so and labels the image; use LLAMA_WHEEL=portable for an image to ship elsewhere.
set -euo pipefail

# shellcheck source=docker/engine.sh
. "$(dirname "$0")/engine.sh"
LLAMA_WHEEL=${LLAMA_WHEEL:-cache}
WHEELS="$DOCKER_DIR/wheels"
OFFICIAL_BASE=docker.io/library/python:3.11-slim-bookworm
PIP_CACHE=${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pip}
# The Dockerfile's llama.cpp flags (library only, portable x86-64 baseline).
PORTABLE_CMAKE_ARGS="-DLLAVA_BUILD=OFF -DMTMD_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF"

engine_pick
started=$(date +%s)

# --- base image ----------------------------------------------------------------------------------
if [ -z "${PYTHON_IMAGE:-}" ]; then
    if "$ENGINE" image inspect "$OFFICIAL_BASE" >/dev/null 2>&1 \
        || timeout 60 "$ENGINE" pull "$OFFICIAL_BASE" >/dev/null 2>&1; then
        PYTHON_IMAGE=$OFFICIAL_BASE
    else
        log "cannot pull $OFFICIAL_BASE (no registry access): using $BASE_IMAGE_LOCAL, made from Debian packages"
        PYTHON_IMAGE=$BASE_IMAGE_LOCAL
        made_by=$("$ENGINE" image inspect --format '{{index .Config.Labels "io.llmops.make-base"}}' \
            "$PYTHON_IMAGE" 2>/dev/null || true)
        if [ "$made_by" != "$(base_recipe)" ]; then
            [ -z "$made_by" ] || log "$PYTHON_IMAGE was made by another version of make-base.sh: remaking it"
            "$DOCKER_DIR/make-base.sh" "$PYTHON_IMAGE"
        fi
    fi
fi
engine_probe "$PYTHON_IMAGE"
log "base image: $PYTHON_IMAGE"
glibc_base=$("$ENGINE" run --rm "$PYTHON_IMAGE" ldd --version 2>&1 | awk 'NR == 1 {print $NF}')
py_base=$("$ENGINE" run --rm "$PYTHON_IMAGE" python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# --- llama-cpp-python wheel ----------------------------------------------------------------------
# wheel_fits WHEEL: pure-Python tag or this base's CPython, and no shared library needs a newer glibc
# than the base has (the wheel's linux_x86_64 tag does not say which glibc it was built against).
wheel_fits() {
    local wheel=$1 tmp need
    case "$(basename "$wheel")" in
        *-py3-none-linux_x86_64.whl | *-cp${py_base/./}-*linux_x86_64.whl) ;;
        *) log "skip $(basename "$wheel"): not for CPython $py_base on linux x86_64"; return 1 ;;
    esac
    tmp=$(mktemp -d)
    unzip -q -o "$wheel" '*.so*' -d "$tmp" 2>/dev/null || true
    need=$(find "$tmp" -name '*.so*' -type f -exec objdump -T {} + 2>/dev/null \
        | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
    WHEEL_AVX512=$(find "$tmp" -name 'libggml-cpu.so*' -type f -exec objdump -d --no-show-raw-insn {} + 2>/dev/null \
        | grep -c -m1 zmm || true)
    rm -rf "$tmp"
    if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$glibc_base" | sort -V | tail -n1)" != "$glibc_base" ]; then
        log "skip $(basename "$wheel"): needs glibc $need, the base has $glibc_base"
        return 1
    fi
    log "$(basename "$wheel"): needs glibc ${need:-none} <= base's $glibc_base"
}

# newest DIR: the most recent llama-cpp-python wheel under DIR, if any.
newest() {
    find "$1" -name 'llama_cpp_python-*.whl' -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -n1 | cut -d' ' -f2- || true
}
llama_source=none
case "$LLAMA_WHEEL" in
    cache)
        wheel=$(newest "$WHEELS")
        if [ -n "$wheel" ] && wheel_fits "$wheel"; then
            llama_source="docker/wheels (kept from an earlier build)"
        else
            wheel=$(newest "$PIP_CACHE/wheels")
            if [ -n "$wheel" ] && wheel_fits "$wheel"; then
                rm -f "$WHEELS"/llama_cpp_python-*.whl
                cp "$wheel" "$WHEELS/"
                llama_source="host pip cache (built by make install)"
            else
                LLAMA_WHEEL=portable
            fi
        fi
        ;;
    portable | none) ;;
    *) die "LLAMA_WHEEL must be cache, portable or none, not $LLAMA_WHEEL" ;;
esac
if [ "$LLAMA_WHEEL" = portable ]; then
    rm -f "$WHEELS"/llama_cpp_python-*.whl
    spec=$(python3 -c "import tomllib; print(next(d for d in tomllib.load(open('$REPO_ROOT/pyproject.toml', 'rb'))['project']['dependencies'] if d.startswith('llama-cpp-python')))")
    log "building a portable $spec wheel on the host (compiles llama.cpp once, several minutes)"
    t0=$(date +%s)
    CMAKE_ARGS="$PORTABLE_CMAKE_ARGS" python3 -m pip wheel --quiet --no-deps --no-cache-dir \
        --wheel-dir "$WHEELS" "$spec"
    log "portable wheel built in $(( $(date +%s) - t0 ))s"
    wheel=$(newest "$WHEELS")
    wheel_fits "$wheel" || die "the wheel built on the host does not fit $PYTHON_IMAGE"
    llama_source="built on the host, GGML_NATIVE=OFF"
elif [ "$LLAMA_WHEEL" = none ]; then
    rm -f "$WHEELS"/llama_cpp_python-*.whl
fi
llama_cpu=portable
if [ "$llama_source" = none ]; then
    log "llama-cpp-python: no prebuilt wheel, the build compiles llama.cpp (GGML_NATIVE=OFF)"
else
    log "llama-cpp-python: $(basename "$wheel") from $llama_source"
    case "$llama_source" in host*) llama_cpu=host-pip-cache ;; docker/wheels*) llama_cpu=prebuilt ;; esac
    if [ "${WHEEL_AVX512:-0}" != 0 ]; then
        llama_cpu=host-native-avx512
        log "WARNING: this wheel's libggml-cpu uses AVX-512: the image runs only on CPUs with AVX-512" \
            "(LLAMA_WHEEL=portable makes one for any x86-64 CPU with AVX2)"
    fi
fi

# --- build ---------------------------------------------------------------------------------------
version=$(python3 -c "import tomllib; print(tomllib.load(open('$REPO_ROOT/pyproject.toml', 'rb'))['project']['version'])")
revision=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
build_args=(
    -f "$DOCKER_DIR/Dockerfile" -t "$IMAGE"
    --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"
    --build-arg "VERSION=$version"
    --build-arg "REVISION=$revision"
    --label "io.llmops.llama-cpp-wheel=$llama_cpu"
)
if [ "$ENGINE" = podman ]; then
    # docker format: the OCI format has no SHELL or HEALTHCHECK, and podman would drop both. The base
    # may exist only locally: never reach for a registry during the build.
    build_args+=(--format docker --pull=never)
fi
# The host's CA bundle, for pip behind a TLS-inspecting proxy (a build secret: in no layer).
ca_bundle=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
if [ -s "$ca_bundle" ]; then
    build_args+=(--secret "id=pip_ca,src=$ca_bundle")
fi
log "building $IMAGE with $ENGINE (context: $REPO_ROOT)"
t0=$(date +%s)
read -ra extra <<< "${BUILD_OPTS:-}"
"$ENGINE" build "${build_args[@]}" "${extra[@]}" "$REPO_ROOT"
build_seconds=$(( $(date +%s) - t0 ))

log "make image: built $IMAGE in ${build_seconds}s (${version}, ${revision}); image size $(image_size_mb "$IMAGE") MB;" \
    "llama-cpp-python wheel: $llama_cpu; base: $PYTHON_IMAGE; total $(( $(date +%s) - started ))s"
