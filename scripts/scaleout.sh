#!/usr/bin/env bash
# Scale-out measurements, run on demand (never from cargo test): release instances of Warden on
# one throwaway Postgres cluster (scripts/pg.sh), driven by scripts/scaleout/measure.py.
#   scripts/scaleout.sh [EDITS]     (default 200 edits per propagation run)
# 1. two instances: an edit on A until B answers the other way, EDITS times (p50/p99/max)
# 2. three instances: the same, A -> B and C
# 3. every listening backend terminated from SQL, an edit at once: time until B follows
# 4. 4 writers on each of A and B: every edit stored, versions unique, instances = database
# 5. Postgres stopped for a while and started again: what each instance answers meanwhile
#    (A: --on-store-loss serve, the default; D: deny), and how soon it is back
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
EDITS=${1:-200}
ADMIN_PASSWORD=scaleout-admin-password
command -v curl >/dev/null || apt-get install -y curl >/dev/null
cargo build --release --quiet --bin warden
BIN=${CARGO_TARGET_DIR:-target}/release/warden
TMP=$(mktemp -d)
# the cluster runs as the postgres user when we are root: a directory it may enter
PGDIR=$(mktemp -d /tmp/warden-pg.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  scripts/pg.sh stop "$PGDIR"
  rm -rf "$TMP"
}
trap cleanup EXIT

SERVER=$(scripts/pg.sh start "$PGDIR")
psql -q "$SERVER" -c "CREATE DATABASE warden_scaleout"
DB=${SERVER%/postgres}/warden_scaleout

# start NAME [flags...]: sets $URL
start() {
  local name=$1 port
  shift
  port=$(free_port)
  WARDEN_ADMIN_PASSWORD=$ADMIN_PASSWORD WARDEN_DEMO=true RUST_LOG=warn \
    "$BIN" serve --listen "127.0.0.1:$port" --database-url "$DB" "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  URL="http://127.0.0.1:$port"
  wait_up "$URL/readyz"
}
start A; A=$URL
start B; B=$URL
echo "Postgres $(psql -qtA "$SERVER" -c 'SHOW server_version'), $(nproc) cores, loopback; instances: release builds"
echo "1. two instances, $EDITS edits on A (a grant, then its revoke, ...), B polled until it follows:"
python3 scripts/scaleout/measure.py propagate "$EDITS" "$A" "$B"
start C; C=$URL
echo "2. three instances, $EDITS edits on A, B and C polled until both follow:"
python3 scripts/scaleout/measure.py propagate "$EDITS" "$A" "$B" "$C"
echo "3. listening connections terminated from SQL:"
python3 scripts/scaleout/measure.py killed "$A" "$B" "$DB"
echo "4. concurrent writers:"
python3 scripts/scaleout/measure.py writers 4 "$A" "$B"
echo "  database: version $(psql -qtA "$DB" -c 'SELECT version FROM policy_state') rules $(psql -qtA "$DB" -c 'SELECT count(*) FROM policy_rules')"

echo "5. Postgres stopped for 5 s (A: --on-store-loss serve, D: deny):"
start D --on-store-loss deny; D=$URL
token() { curl -fs -X POST "$1/v1/auth/token" -d "grant_type=password&username=$2&password=$3" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
TA=$(token "$A" alice demo-password)
TD=$(token "$D" alice demo-password)
CHECK='{"checks":[{"object":{"type":"document","attributes":{"department":"eng","owner":"bob","classification":1}},"action":"read"}]}'
probe() { # label
  local a d ra rd la
  a=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TA" -H 'content-type: application/json' -d "$CHECK" "$A/v1/check")
  d=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TD" -H 'content-type: application/json' -d "$CHECK" "$D/v1/check")
  ra=$(curl -s -o /dev/null -w '%{http_code}' "$A/readyz")
  rd=$(curl -s -o /dev/null -w '%{http_code}' "$D/readyz")
  la=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -X POST "$A/v1/auth/token" -d "grant_type=password&username=alice&password=demo-password")
  printf '  %-26s A check %s readyz %s login %s | D check %s readyz %s\n' "$1" "$a" "$ra" "$la" "$d" "$rd"
}
probe "before"
scripts/pg.sh down "$PGDIR"
t_down=$(date +%s.%N)
sleep 3
probe "Postgres down 3 s"
sleep 2
scripts/pg.sh up "$PGDIR"
t_up=$(date +%s.%N)
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$A/readyz")" = 200 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$D/readyz")" = 200 ] && break
  sleep 0.1
done
echo "  both ready again $(python3 -c "print(f'{$(date +%s.%N)-$t_up:.1f}')") s after Postgres was back (down for $(python3 -c "print(f'{$t_up-$t_down:.1f}')") s)"
for _ in $(seq 1 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TD" -H 'content-type: application/json' -d "$CHECK" "$D/v1/check")" = 200 ] && break
  sleep 0.1
done
probe "after"
echo "  and an edit after the outage still propagates:"
python3 scripts/scaleout/measure.py propagate 20 "$A" "$B" "$D"
