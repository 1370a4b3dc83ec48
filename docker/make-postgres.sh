#!/usr/bin/env bash
# A Postgres image made from Debian packages, for running deploy/compose.yaml where postgres:16-alpine
# cannot be pulled (docker/smoke-compose.sh uses it through docker/compose.smoke.yaml).
#
#   docker/make-postgres.sh [IMAGE]     default IMAGE: localhost/llmops-postgres:15-bookworm
#
# Debian 12 ships PostgreSQL 15, not 16. The entrypoint does the part of the official image's that the
# compose file relies on: on an empty $PGDATA (/var/lib/postgresql/data) it runs initdb with
# POSTGRES_USER as superuser and the password from POSTGRES_PASSWORD_FILE, creates POSTGRES_DB, then
# runs the server as the postgres user on all addresses with scram-sha-256 for TCP clients.
set -euo pipefail

# shellcheck source=docker/engine.sh
. "$(dirname "$0")/engine.sh"
PG_IMAGE=${1:-localhost/llmops-postgres:15-bookworm}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

engine_pick
command -v mmdebstrap >/dev/null || die "install mmdebstrap (apt-get install mmdebstrap)"
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap root mode)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/entrypoint" <<'EOF'
#!/bin/sh
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    pwfile=${POSTGRES_PASSWORD_FILE:-}
    [ -n "$pwfile" ] && [ -s "$pwfile" ] || { echo "entrypoint: POSTGRES_PASSWORD_FILE is not a file" >&2; exit 1; }
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | postgres --single -D "$PGDATA" -j postgres >/dev/null
    fi
    echo "entrypoint: initialised $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
EOF

started=$(date +%s)
log "make-postgres: mmdebstrap $SUITE (postgresql-15) from $MIRROR"
# shellcheck disable=SC2016  # the hooks' $1 (the root directory) is mmdebstrap's to expand
mmdebstrap --variant=minbase --quiet \
    --include=postgresql-15 \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15' \
    --customize-hook="install -m 0755 $work/entrypoint \"\$1\"/usr/local/bin/docker-entrypoint" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$SUITE" "$work/rootfs.tar" \
    "deb $MIRROR $SUITE main" \
    "deb $MIRROR $SUITE-updates main" \
    "deb http://deb.debian.org/debian-security $SUITE-security main"

"$ENGINE" import \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'VOLUME /var/lib/postgresql/data' \
    --change 'EXPOSE 5432' \
    --change 'STOPSIGNAL SIGINT' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]' \
    "$work/rootfs.tar" "$PG_IMAGE" >/dev/null 2>&1

log "make-postgres: $PG_IMAGE in $(( $(date +%s) - started ))s, $(image_size_mb "$PG_IMAGE") MB"
