#!/usr/bin/env bash
# Load test: Warden with N generated rules (default 10,000) against a bare axum hello-world on
# the same machine, with wrk. Run on demand (never from cargo test):
#   scripts/load.sh [RULES] [USERS]
# Builds release, starts Warden on a free loopback port with a temporary SQLite database and
# the demo users, imports the seed policy plus RULES generated rules, registers USERS more
# users (default 100), then runs wrk -t2 -c32 for $DURATION (default 10s) per scenario and
# prints req/s, p50 and p99 for each. Installs wrk (Debian package) when it is missing.
# BACKEND=postgres runs Warden on a throwaway Postgres cluster (scripts/pg.sh) instead.
# Other WARDEN_* variables pass through to the server (e.g. WARDEN_DECISION_LOG=/tmp/d.jsonl).
# The server runs with its defaults on: metrics, request ids and the access log at info (one
# line per request, to a file); WARDEN_LOG=warn turns the access log off (runs before
# 2026-12-07 evening did).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
RULES=${1:-10000}
USERS=${2:-100}
DURATION=${DURATION:-10s}
PASSWORD=load-test-password
[ "$USERS" -ge 1 ] || { echo "USERS must be at least 1 (the token scenario logs them in)" >&2; exit 2; }
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || sudo apt-get install -y wrk >/dev/null; }
command -v curl >/dev/null || apt-get install -y curl >/dev/null
cargo build --release --quiet --bin warden --example hello
BIN=${CARGO_TARGET_DIR:-target}/release/warden
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT


if [ "${BACKEND:-sqlite}" = postgres ]; then
  PGDIR=$(mktemp -d /tmp/warden-pg.XXXXXX)
  SERVER=$(scripts/pg.sh start "$PGDIR")
  trap 'scripts/pg.sh stop "$PGDIR"; cleanup' EXIT
  psql -q "$SERVER" -c "CREATE DATABASE warden_load"
  DB=${SERVER%/postgres}/warden_load
else
  DB="sqlite://$TMP/warden.db"
fi
echo "database: ${DB%%://*}"
python3 scripts/load/rules.py "$RULES" > "$TMP/policy.csv"
t0=$(date +%s.%N)
WARDEN_ADMIN_PASSWORD=$PASSWORD "$BIN" policy import "$TMP/policy.csv" --database-url "$DB" >/dev/null
t1=$(date +%s.%N)
echo "imported seed + $RULES rules in $(python3 -c "print(f'{$t1-$t0:.2f}')") s (warden policy import, incl. validation and invariants)"

PORT=$(free_port)
WARDEN_ADMIN_PASSWORD=$PASSWORD WARDEN_DEMO=true WARDEN_LOG=${WARDEN_LOG:-info} \
  WARDEN_LOGIN_FAILURES_PER_CLIENT=100000000 \
  WARDEN_REGISTER_ATTEMPTS_PER_IP=100000000 \
  "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$DB" > "$TMP/warden.log" 2>&1 &
PIDS+=($!)
BASE="http://127.0.0.1:$PORT"
wait_up "$BASE/healthz"
t0=$(date +%s.%N)
for i in $(seq 1 "$USERS"); do
  curl -fs -o /dev/null -X POST "$BASE/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"load$i\",\"password\":\"$PASSWORD\"}"
done
t1=$(date +%s.%N)
echo "registered $USERS users in $(python3 -c "print(f'{($t1-$t0)*1000/max($USERS,1):.1f}')") ms each (argon2id included)"
RSS=$(ps -o rss= -p "${PIDS[0]}" | tr -d ' ')
echo "warden resident memory: $((RSS / 1024)) MB"

TOKEN=$(demo_token "$BASE")
export TOKEN PASSWORD USERS
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/api/documents/1")" = 200

HPORT=$(free_port)
"${CARGO_TARGET_DIR:-target}/release/examples/hello" "127.0.0.1:$HPORT" >/dev/null &
PIDS+=($!)
wait_up "http://127.0.0.1:$HPORT/"

run() { # name, url, [lua script]
  local name=$1 url=$2 script=${3:-}
  wrk -t2 -c32 -d"$DURATION" --latency ${script:+-s "$script"} "$url" \
    | python3 scripts/load/wrk_summary.py "$name"
}
echo "wrk -t2 -c32 -d$DURATION, loopback, $(nproc) cores, seed + $RULES rules:"
run "bare axum hello-world (ceiling)" "http://127.0.0.1:$HPORT/"
run "GET /api/documents/1" "$BASE/api/documents/1" scripts/load/get.lua
# the same guard and middleware without the document read: what the database hop costs
run "GET /v1/me (no database read)" "$BASE/v1/me" scripts/load/get.lua
run "POST /v1/check (1 check)" "$BASE/v1/check" scripts/load/check1.lua
run "POST /v1/check (10 checks)" "$BASE/v1/check" scripts/load/check.lua
run "POST /v1/auth/token (password grant)" "$BASE/v1/auth/token" scripts/load/token.lua
# after the scenarios above, so every series they create is in the scrape
echo "one /metrics scrape: $(curl -s -o "$TMP/metrics.txt" -w '%{time_total}' "$BASE/metrics" | python3 -c 'import sys; print(f"{float(sys.stdin.read())*1000:.2f}")') ms, $(wc -c < "$TMP/metrics.txt") bytes, $(grep -vc '^#' "$TMP/metrics.txt") series"
run "GET /metrics (scrape)" "$BASE/metrics"
