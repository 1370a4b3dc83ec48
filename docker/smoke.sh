#!/usr/bin/env bash
# Start the built image and check it end to end: `make image-smoke` (after `make image`).
#
#   docker/smoke.sh
#
#   IMAGE=localhost/llmops:local   the image to start
#   SMOKE_PORT=18000               host port (127.0.0.1 only)
#   READY_TIMEOUT=300              seconds to wait for /readyz
#   SMOKE_COMPOSE=auto|0|1         then run deploy/compose.yaml (llmops + Postgres) the same way with
#                                  podman-compose (docker/smoke-compose.sh); auto: when the engine is
#                                  podman and podman-compose ($PODMAN_COMPOSE) is installed
#
# One container, as deploy/compose.yaml runs it (read-only root, /tmp on tmpfs, no capabilities,
# no-new-privileges), with a fresh named volume for /data and a freshly generated API key in a secret
# file mounted at /run/secrets/llmops_api_keys. Everything it creates is removed on exit.
set -euo pipefail

# shellcheck source=docker/engine.sh
. "$(dirname "$0")/engine.sh"
SMOKE_PORT=${SMOKE_PORT:-18000}
READY_TIMEOUT=${READY_TIMEOUT:-300}
SMOKE_COMPOSE=${SMOKE_COMPOSE:-auto}
NAME=llmops-smoke-$$
VOLUME=llmops-smoke-data-$$
BASE_URL=http://127.0.0.1:$SMOKE_PORT

engine_pick
"$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE: run make image first"
engine_probe "$IMAGE"

work=$(mktemp -d)
failures=0
cleanup() {
    "$ENGINE" rm -f -v "$NAME" >/dev/null 2>&1 || true
    "$ENGINE" volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# Without systemd, podman cannot schedule the image's HEALTHCHECK timer and says so on every start;
# the check itself still runs on demand (podman healthcheck run), which is what is tested below.
quiet_systemd() {
    if grep -q 'unable to get systemd connection' "$1"; then
        log "note: no systemd here, so podman does not run the HEALTHCHECK on a timer (healthcheck run works)"
    fi
    grep -v 'unable to get systemd connection' "$1" >&2 || true
}
pass() { log "PASS $*"; }
fail() { log "FAIL $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# --- the secret and the volume --------------------------------------------------------------------
mkdir -m 700 "$work/secrets"
KEY=$(python3 -c 'import secrets; print("llmops_" + secrets.token_urlsafe(32))')
(umask 022 && printf '%s' "$KEY" > "$work/secrets/llmops_api_keys")
"$ENGINE" volume create "$VOLUME" >/dev/null

run_args=(
    -d --name "$NAME"
    -p "127.0.0.1:$SMOKE_PORT:8000"
    -v "$VOLUME:/data"
    -v "$work/secrets/llmops_api_keys:/run/secrets/llmops_api_keys:ro"
    -e LLMOPS_SECRETS_DIR=/run/secrets
    --init --read-only --tmpfs /tmp
    --cap-drop ALL --security-opt no-new-privileges
)

# wait_ready SECONDS: poll /readyz until 200; prints the seconds it took.
wait_ready() {
    local limit=$1 t0 code
    t0=$(date +%s.%N)
    while :; do
        code=$(curl -s -o "$work/readyz" -w '%{http_code}' "$BASE_URL/readyz" || true)
        if [ "$code" = 200 ]; then
            python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$t0"
            return 0
        fi
        if [ "$("$ENGINE" inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null)" != true ]; then
            log "the container stopped; its log:"
            "$ENGINE" logs "$NAME" 2>&1 | tail -n 30 >&2
            return 1
        fi
        if python3 -c "import sys, time; sys.exit(time.time() - float(sys.argv[1]) < float(sys.argv[2]))" "$t0" "$limit"; then
            log "not ready after ${limit}s; last /readyz ($code): $(cat "$work/readyz" 2>/dev/null)"
            return 1
        fi
        sleep 0.5
    done
}

api() { # api METHOD PATH [JSON]: prints the body, then the status on the last line
    local method=$1 path=$2 data=()
    [ -z "${3:-}" ] || data=(-H "Content-Type: application/json" -d "$3")
    curl -s -X "$method" "$BASE_URL$path" -H "Authorization: Bearer $KEY" "${data[@]}" -w '\n%{http_code}'
}

# rss_mb: resident memory of every process in the container (all of them belong to the service).
rss_mb() {
    "$ENGINE" exec "$NAME" python -c '
import os
me, total = os.getpid(), 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == me:
        continue
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    except OSError:
        pass
print(f"{total / 1024:.0f}")'
}

# --- start -----------------------------------------------------------------------------------------
log "smoke: starting $IMAGE as $NAME on $BASE_URL (volume $VOLUME)"
"$ENGINE" run "${run_args[@]}" "$IMAGE" >/dev/null 2>"$work/run.err" || { cat "$work/run.err" >&2; exit 1; }
quiet_systemd "$work/run.err"
if ready_first=$(wait_ready "$READY_TIMEOUT"); then
    pass "ready: /readyz answered 200 after ${ready_first}s"
else
    fail "ready: /readyz"
    exit 1
fi

TRIAGE='{"email": {"sender": "Dana <dana@northwind.example>", "recipients": ["me@northwind.example"],
  "subject": "Production database down", "body": "Checkout is failing. Please join the bridge."}}'
t0=$(date +%s.%N)
reply=$(api POST /v1/triage "$TRIAGE")
triage_s=$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$t0")
status=${reply##*$'\n'}
body=${reply%$'\n'*}
request_id=$(printf '%s' "$body" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("request_id", ""))' 2>/dev/null || true)
summary=$(printf '%s' "$body" | python3 -c '
import json, sys
r = json.load(sys.stdin)
t = r["triage"]
print("category={} priority={} model={} provider={} degraded={} retries={} latency_ms={:.0f}".format(
    t["category"], t["priority"], r["model"], r["provider"], r["degraded"], r["retries"], r["latency_ms"]))' \
    2>/dev/null || true)
if [ "$status" = 200 ] && [ -n "$request_id" ] && [ -n "$summary" ]; then
    pass "POST /v1/triage: 200 in ${triage_s}s, $summary"
else
    fail "POST /v1/triage: $status $body"
fi

reply=$(api POST /v1/feedback "{\"request_id\": \"$request_id\", \"rating\": 1, \"notes\": \"smoke test\"}")
status=${reply##*$'\n'}
check "POST /v1/feedback: $status (201 expected)" test "$status" = 201

check "POST /v1/triage without a key is refused" \
    test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE_URL/v1/triage" -d '{}')" = 401

# --- the process -----------------------------------------------------------------------------------
# shellcheck disable=SC2016  # expanded by the container's shell
uids=$("$ENGINE" exec "$NAME" sh -c 'for s in /proc/[0-9]*/status; do awk "/^Uid:/ {print \$2}" "$s"; done' \
    2>/dev/null | sort -u | tr '\n' ' ')
check "non-root: every process runs as uid ${uids% } (10001 expected)" test "${uids% }" = 10001
check "non-root: exec runs as $("$ENGINE" exec "$NAME" id -u)" test "$("$ENGINE" exec "$NAME" id -u)" = 10001

health=$("$ENGINE" image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE")
if [ "$ENGINE" = podman ] && "$ENGINE" healthcheck run "$NAME" >"$work/health" 2>&1; then
    pass "HEALTHCHECK: podman healthcheck run $NAME: $(tr '\n' ' ' < "$work/health")"
elif [ "$ENGINE" = podman ]; then
    fail "HEALTHCHECK: podman healthcheck run: $(cat "$work/health")"
fi
# The image's HEALTHCHECK command itself, run with exec (also what docker would run).
mapfile -t hc < <(printf '%s' "$health" | python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)[1:]))')
check "HEALTHCHECK: ${hc[*]} exits 0 under exec" "$ENGINE" exec "$NAME" "${hc[@]}"

"$ENGINE" logs "$NAME" > "$work/logs" 2>&1
if grep -qF -- "$KEY" "$work/logs"; then
    fail "the API key appears in $ENGINE logs"
else
    pass "the API key is not in $ENGINE logs ($(wc -l < "$work/logs") lines)"
fi
if "$ENGINE" inspect "$NAME" | grep -qF -- "$KEY"; then
    fail "the API key appears in $ENGINE inspect"
else
    pass "the API key is not in $ENGINE inspect"
fi

rss=$(rss_mb)
log "RSS of the service in the container: ${rss} MB (after one triage)"

# --- stop and start again: the data survives ---------------------------------------------------------------------
# Stop as compose would (SIGTERM, then SIGKILL after its stop_grace_period of 30 s), then start again.
t0=$(date +%s.%N)
"$ENGINE" stop -t 30 "$NAME" >/dev/null 2>"$work/stop.err" || cat "$work/stop.err" >&2
stop_s=$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$t0")
code=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$NAME")
if [ "$code" != 137 ]; then
    pass "stop: the service exits on SIGTERM, in ${stop_s}s with status $code"
else
    # The shutdown closes the model, which waits for a generation still running (one a timed-out
    # request gave up on keeps going: llama.cpp cannot be interrupted), so a slow generation on a
    # busy CPU can outlast the grace period.
    fail "stop: SIGKILL after ${stop_s}s (status 137); the service's last log lines:"
    "$ENGINE" logs --tail 3 "$NAME" 2>&1 | cut -c1-200 >&2
fi
"$ENGINE" start "$NAME" >/dev/null 2>"$work/restart.err"
quiet_systemd "$work/restart.err"
if ready_s=$(wait_ready "$READY_TIMEOUT"); then
    pass "restart: ready again after ${ready_s}s"
    reply=$(api GET "/v1/feedback?since=all")
    if [ "${reply##*$'\n'}" = 200 ] && printf '%s' "${reply%$'\n'*}" | grep -qF -- "$request_id"; then
        pass "restart: the feedback on $request_id is still there"
    else
        fail "restart: feedback lost: $reply"
    fi
    reply=$(api GET "/api/requests/$request_id")
    check "restart: GET /api/requests/$request_id answers ${reply##*$'\n'}" test "${reply##*$'\n'}" = 200
else
    fail "restart: not ready again"
fi

"$ENGINE" rm -f -v "$NAME" >/dev/null 2>&1
log "smoke (single container): $failures failure(s); time to ready ${ready_first}s (${ready_s:-?}s after" \
    "the restart), one triage ${triage_s}s, RSS ${rss:-?} MB, image $(image_size_mb "$IMAGE") MB"

# --- the compose stack ----------------------------------------------------------------------------------
if [ "$SMOKE_COMPOSE" != 0 ]; then
    if [ "$SMOKE_COMPOSE" = auto ] && [ "$ENGINE" != podman ]; then
        log "compose: skipped with $ENGINE (docker compose -f deploy/compose.yaml up --wait, deploy/README.md)"
    elif [ "$SMOKE_COMPOSE" = auto ] && ! command -v "${PODMAN_COMPOSE:-podman-compose}" >/dev/null 2>&1; then
        log "compose: skipped, podman-compose is not installed"
    else
        "$DOCKER_DIR/smoke-compose.sh" || failures=$((failures + 1))
    fi
fi

[ "$failures" = 0 ] || die "make image-smoke: $failures failure(s)"
log "make image-smoke: all checks passed"
