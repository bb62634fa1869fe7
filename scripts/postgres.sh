#!/usr/bin/env bash
# Start a throw-away PostgreSQL on 127.0.0.1 for the tests and benchmarks, from Debian's packages.
#   scripts/postgres.sh start   -> prints the DATABASE_URL to use
#   scripts/postgres.sh stop
# Knobs: PGPORT (default 55432), PGDATA_DIR (default var/pgdata).
set -euo pipefail
cd "$(dirname "$0")/.."

# As root the server runs as the postgres user, who must be able to reach the data folder;
# a checkout under a private folder (mode 0700, e.g. from mktemp -d) is out of its reach,
# so the data then goes to /var/tmp, under a name derived from the checkout's path.
choose_data() {
  DATA="${PGDATA_DIR:-$PWD/var/pgdata}"
  if [ -z "${PGDATA_DIR:-}" ] && [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 \
      && ! (cd / && runuser -u postgres -- test -x "$OLDPWD"); then
    DATA="/var/tmp/regnekraft-pgdata-$(printf '%s' "$PWD" | md5sum | cut -c1-12)"
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Our own running server keeps its port; otherwise PGPORT, or the first free port from 55432.
choose_port() {
  if [ -f "$DATA/postmaster.pid" ] && [ -n "$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null)" ]; then
    PORT=$(sed -n 4p "$DATA/postmaster.pid")
  elif [ -n "${PGPORT:-}" ]; then
    PORT=$PGPORT
  else
    PORT=55432
    while port_in_use "$PORT"; do PORT=$((PORT + 1)); done
  fi
  URL="postgres://regnekraft:regnekraft@127.0.0.1:${PORT}/regnekraft"
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && echo "$d"
}

install_pg() {
  if [ -z "$(pg_bin)" ]; then
    echo "installing PostgreSQL from Debian packages..." >&2
    export DEBIAN_FRONTEND=noninteractive
    [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

case "${1:-start}" in
  start)
    install_pg
    choose_data
    choose_port
    BIN=$(pg_bin)
    mkdir -p "$DATA"
    if [ "$(id -u)" = 0 ]; then chown -R postgres "$DATA"; fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_owner "$BIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
        -o "-h 127.0.0.1 -p $PORT -k /tmp -c fsync=off -c max_connections=100" start >/dev/null
    fi
    psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='regnekraft'" | grep -q 1 \
      || psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE ROLE regnekraft LOGIN SUPERUSER PASSWORD 'regnekraft'"
    psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='regnekraft'" | grep -q 1 \
      || psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE regnekraft OWNER regnekraft"
    echo "$URL"
    ;;
  stop)
    choose_data
    BIN=$(pg_bin)
    [ -n "$BIN" ] && [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
