#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for tests and benchmarks (Debian's postgresql
# package; .ci/run installs it).
#
#   scripts/pg.sh test [test name filter]     start a cluster; run `cargo test` with the
#                                             Postgres-only tests included
#                                             (WARDEN_TEST_POSTGRES), then the whole API
#                                             suite on Postgres (WARDEN_TEST_BACKEND=postgres);
#                                             stop and delete the cluster
#   scripts/pg.sh start DIR                   start a cluster in DIR (created), print its URL
#   scripts/pg.sh stop DIR                    stop the cluster in DIR and delete DIR
#   scripts/pg.sh down DIR | up DIR           stop the server (keeping its data) / start it
#                                             again on the same port (outage drills)
#
# The cluster trusts loopback connections (it listens on 127.0.0.1 only and is deleted after
# use) and trades durability for speed (fsync off): never point it at data you keep.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  echo "PostgreSQL server binaries not found: apt-get install -y postgresql" >&2
  exit 1
}

# initdb and postgres refuse to run as root; run them as the package's postgres user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir=$1 bin port
  bin=$(bindir)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    runuser -u postgres -- test -w "$dir" || {
      echo "the postgres user cannot reach $dir: use a directory whose parents it may enter (e.g. mktemp -d /tmp/warden-pg.XXXXXX)" >&2
      exit 1
    }
  fi
  as_owner "$bin/initdb" -D "$dir/data" -U warden --auth=trust -E UTF8 --no-locale >"$dir/initdb.log"
  port=$(free_port)
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
    "-h 127.0.0.1 -p $port -k $dir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null
  echo "$port" >"$dir/port"
  echo "postgres://warden@127.0.0.1:$port/postgres"
}

stop() {
  local dir=$1
  [ -d "$dir/data" ] && as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

down() {
  as_owner "$(bindir)/pg_ctl" -D "$1/data" -m fast stop >/dev/null
}

up() {
  local dir=$1 port
  port=$(cat "$dir/port")
  as_owner "$(bindir)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
    "-h 127.0.0.1 -p $port -k $dir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null
}

case "${1:-}" in
  start) start "$2" ;;
  down) down "$2" ;;
  up) up "$2" ;;
  stop) stop "$2" ;;
  test)
    shift
    dir=$(mktemp -d /tmp/warden-pg.XXXXXX)
    trap 'stop "$dir"' EXIT
    url=$(start "$dir")
    echo "Postgres test cluster: $url"
    export WARDEN_TEST_POSTGRES=$url
    cargo test "$@"
    WARDEN_TEST_BACKEND=postgres cargo test --test api "$@"
    ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
