#!/usr/bin/env bash
# The compose stack (llmops + Postgres) started with podman-compose and checked like the single
# container; called by docker/smoke.sh (make image-smoke), or on its own after make image.
#
#   PG_IMAGE=localhost/llmops-postgres:15-bookworm  the Postgres image when postgres:16-alpine cannot be
#                                                   pulled; made by docker/make-postgres.sh if missing
#   PODMAN_COMPOSE=podman-compose                   the podman-compose to run. Debian 12's 1.0.3 mangles
#       exec-form health checks that have spaces in an argument (llmops's: `python -c "..."`) and
#       ignores depends_on conditions; podman-compose >= 1.1 from PyPI gets both right.
#
# deploy/compose.yaml is copied into a temporary directory with secrets made by the script in
# deploy/README.md, so the repository's deploy/secrets/ is neither read nor written. The stack publishes
# 127.0.0.1:8000, as the compose file says; everything it creates is removed on exit.
set -euo pipefail

# shellcheck source=docker/engine.sh
. "$(dirname "$0")/engine.sh"
OFFICIAL_PG=docker.io/library/postgres:16-alpine
PG_IMAGE=${PG_IMAGE:-localhost/llmops-postgres:15-bookworm}
READY_TIMEOUT=${READY_TIMEOUT:-300}
PODMAN_COMPOSE=${PODMAN_COMPOSE:-podman-compose}
PROJECT=llmops-smoke-$$
BASE_URL=http://127.0.0.1:8000

engine_pick
[ "$ENGINE" = podman ] || die "smoke-compose drives podman-compose; with docker use docker compose (deploy/README.md)"
command -v "$PODMAN_COMPOSE" >/dev/null || die "$PODMAN_COMPOSE is not installed (apt-get install podman-compose)"
"$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE: run make image first"
engine_probe "$IMAGE"
if ss -ltn 2>/dev/null | grep -q '127.0.0.1:8000 '; then
    die "127.0.0.1:8000 is taken: the compose stack publishes that port"
fi

work=$(mktemp -d)
failures=0
compose_files=(-f "$work/deploy/compose.yaml")
compose() { "$PODMAN_COMPOSE" -p "$PROJECT" "${compose_files[@]}" "$@"; }
cleanup() {
    compose down >/dev/null 2>&1 || true
    "$ENGINE" volume ls --format '{{.Name}}' | grep "^${PROJECT}_" | xargs -r "$ENGINE" volume rm -f >/dev/null 2>&1 || true
    "$ENGINE" pod rm -f "pod_$PROJECT" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
pass() { log "PASS compose: $*"; }
fail() { log "FAIL compose: $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# --- the Postgres image -------------------------------------------------------------------------------
if "$ENGINE" image inspect "$OFFICIAL_PG" >/dev/null 2>&1 || timeout 60 "$ENGINE" pull "$OFFICIAL_PG" >/dev/null 2>&1; then
    log "compose: postgres from $OFFICIAL_PG"
else
    log "compose: cannot pull $OFFICIAL_PG (no registry access): Postgres from $PG_IMAGE (Debian packages)"
    "$ENGINE" image inspect "$PG_IMAGE" >/dev/null 2>&1 || "$DOCKER_DIR/make-postgres.sh" "$PG_IMAGE"
    sed "s|localhost/llmops-postgres:15-bookworm|$PG_IMAGE|" "$DOCKER_DIR/compose.smoke.yaml" > "$work/compose.smoke.yaml"
    compose_files+=(-f "$work/compose.smoke.yaml")
fi

# --- the project: compose file and secrets made by deploy/README.md's script --------------------------
mkdir -p "$work/deploy"
cp "$REPO_ROOT/deploy/compose.yaml" "$work/deploy/"
python3 - "$REPO_ROOT/deploy/README.md" > "$work/make-secrets.sh" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
match = re.search(r"^## 1\. Create the secrets$.*?^```sh\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
sys.stdout.write(match.group(1))
PY
(cd "$work" && bash "$work/make-secrets.sh")
KEY=$(cut -d, -f1 "$work/deploy/secrets/llmops_api_keys")

wait_ready() { # seconds since $1 (epoch) when /readyz first answers 200
    local t0=$1 code
    while [ $(( $(date +%s) - t0 )) -lt "$READY_TIMEOUT" ]; do
        code=$(curl -s -o "$work/readyz" -w '%{http_code}' "$BASE_URL/readyz" || true)
        if [ "$code" = 200 ]; then
            echo $(( $(date +%s) - t0 ))
            return 0
        fi
        sleep 1
    done
    log "compose: not ready after ${READY_TIMEOUT}s; /readyz: $(cat "$work/readyz" 2>/dev/null)"
    return 1
}
api() {
    local method=$1 path=$2 data=()
    [ -z "${3:-}" ] || data=(-H "Content-Type: application/json" -d "$3")
    curl -s -X "$method" "$BASE_URL$path" -H "Authorization: Bearer $KEY" "${data[@]}" -w '\n%{http_code}'
}
psql_count() { # rows of a table in the compose Postgres (over its Unix socket, trusted)
    "$ENGINE" exec "$pg" psql -U llmops -d llmops -tA -c "SELECT count(*) FROM $1" \
        2>/dev/null | tr -d '[:space:]'
}

# --- up ---------------------------------------------------------------------------------------------
# (awk reads to the end: stopping early would kill podman-compose with SIGPIPE and, under pipefail, the script)
pc_version=$("$PODMAN_COMPOSE" --version 2>/dev/null | awk '/podman-compose/ && !v {v = $NF} END {print v}')
pc_old=0
case "$pc_version" in 1.0.* | 1.1.* | 1.2.* | 1.3.* | 1.4.*) pc_old=1 ;; esac
log "compose: podman-compose $pc_version up ($PROJECT)"
t0=$(date +%s)
compose up -d --no-build > "$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "podman-compose up failed"; }
svc=$("$ENGINE" ps --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=llmops" --format '{{.Names}}' | sed -n 1p)
pg=$("$ENGINE" ps --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=postgres" --format '{{.Names}}' | sed -n 1p)
log "compose: containers ${svc:-?} and ${pg:-?}"
if ready=$(wait_ready "$t0"); then
    pass "ready: /readyz 200 ${ready}s after the start of up (Postgres included: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])))' "$work/readyz" 2>/dev/null | head -c 200))"
else
    fail "ready"
    "$ENGINE" logs "$svc" 2>&1 | tail -n 30 >&2 || true
    exit 1
fi

TRIAGE='{"email": {"sender": "ana@example.com", "recipients": ["ops@example.com"],
  "subject": "Invoice overdue", "body": "Please pay invoice 1042 by Friday."}}'
t1=$(date +%s)
reply=$(api POST /v1/triage "$TRIAGE")
triage_s=$(( $(date +%s) - t1 ))
request_id=$(printf '%s' "${reply%$'\n'*}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["request_id"])' 2>/dev/null || true)
if [ "${reply##*$'\n'}" = 200 ] && [ -n "$request_id" ]; then
    pass "POST /v1/triage: 200 in ${triage_s}s ($request_id)"
else
    fail "POST /v1/triage: $reply"
fi
reply=$(api POST /v1/feedback "{\"request_id\": \"$request_id\", \"rating\": -1, \"notes\": \"compose smoke\"}")
check "POST /v1/feedback: ${reply##*$'\n'} (201 expected)" test "${reply##*$'\n'}" = 201

rows=$(psql_count "requests WHERE request_id = '$request_id'")
check "the request is stored in Postgres (rows in requests: $rows)" test "$rows" = 1
rows=$(psql_count feedback)
check "the feedback is stored in Postgres (rows in feedback: $rows)" test "$rows" = 1

# shellcheck disable=SC2016  # expanded by the container's shell
uids=$("$ENGINE" exec "$svc" sh -c 'for s in /proc/[0-9]*/status; do awk "/^Uid:/ {print \$2}" "$s"; done' | sort -u | tr '\n' ' ')
check "non-root: every process runs as uid ${uids% } (10001 expected)" test "${uids% }" = 10001
# compose.yaml's own llmops health check (/readyz), run with exec exactly as written there (the image
# has PyYAML), and then as podman-compose handed it to podman.
mapfile -t hc < <("$ENGINE" exec -i "$svc" python -c '
import sys, yaml
print("\n".join(yaml.safe_load(sys.stdin)["services"]["llmops"]["healthcheck"]["test"][1:]))' \
    < "$REPO_ROOT/deploy/compose.yaml")
if [ "${#hc[@]}" -gt 0 ] && "$ENGINE" exec "$svc" "${hc[@]}"; then
    pass "healthcheck (compose.yaml's, /readyz) exits 0 under exec"
else
    fail "healthcheck (compose.yaml's) under exec: ${hc[*]}"
fi
if "$ENGINE" healthcheck run "$svc" >/dev/null 2>&1; then
    pass "healthcheck: podman healthcheck run $svc"
elif [ "$pc_old" = 1 ]; then
    log "KNOWN compose: podman healthcheck run $svc says $("$ENGINE" healthcheck run "$svc" 2>&1):" \
        "podman-compose $pc_version mangled the check into" \
        "$("$ENGINE" inspect --format '{{json .Config.Healthcheck.Test}}' "$svc");" \
        "PODMAN_COMPOSE=<podman-compose 1.5.0 from PyPI> gets it right"
else
    fail "healthcheck: podman healthcheck run $svc: $("$ENGINE" healthcheck run "$svc" 2>&1)," \
        "command as podman-compose set it: $("$ENGINE" inspect --format '{{json .Config.Healthcheck.Test}}' "$svc")"
fi
if "$ENGINE" healthcheck run "$pg" >/dev/null 2>&1; then
    pass "healthcheck (pg_isready over TCP): podman healthcheck run $pg"
else
    fail "healthcheck: podman healthcheck run $pg: $("$ENGINE" healthcheck run "$pg" 2>&1)"
fi
if "$ENGINE" logs "$svc" 2>&1 | grep -qF -- "$KEY"; then fail "the API key is in the logs"; else pass "the API key is not in the logs"; fi
ro=$("$ENGINE" inspect --format '{{.HostConfig.ReadonlyRootfs}}, dropped {{len .HostConfig.CapDrop}} capabilities' "$svc")
log "compose: llmops container read-only root and dropped capabilities: $ro"

# --- restart of the whole stack (down, up): the data stays in the volumes ---------------------------
compose down > "$work/down.log" 2>&1 || { cat "$work/down.log" >&2; fail "podman-compose down"; }
t0=$(date +%s)
compose up -d --no-build > "$work/up2.log" 2>&1 || { cat "$work/up2.log" >&2; die "podman-compose up (2nd) failed"; }
svc=$("$ENGINE" ps --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=llmops" --format '{{.Names}}' | sed -n 1p)
pg=$("$ENGINE" ps --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=postgres" --format '{{.Names}}' | sed -n 1p)
if ready=$(wait_ready "$t0"); then
    pass "down + up: ready again after ${ready}s"
    reply=$(api GET "/v1/feedback?since=all")
    if printf '%s' "$reply" | grep -qF -- "$request_id"; then
        pass "down + up: the feedback on $request_id is still there"
    else
        fail "down + up: feedback lost: $reply"
    fi
else
    fail "down + up: not ready again"
fi

log "compose smoke: $failures failure(s), first ready in the log above"
[ "$failures" = 0 ]
