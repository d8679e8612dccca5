#!/usr/bin/env bash
# What the decision log costs at sample 1.0 (issue 26's target: <= 5 %). Run on demand:
#   scripts/decision-log-cost.sh [ROUNDS]
# Builds release; per round starts Warden twice on one database (seed + 10,000 generated rules,
# demo users, SQLite, access log at info to a file): once without a decision log and once with
# --decision-log FILE at sample 1.0, alternating, and runs wrk -t2 -c32 -d10s on
# GET /api/documents/1 (2 decisions per request) and POST /v1/check with 1 and with 10 checks.
# Prints each run and, per scenario, the median req/s of each side and the cost.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROUNDS=${1:-3}
PASSWORD=load-test-password
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
warden_bin
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
DB=$(seeded_database "$TMP")
start() { # extra serve arguments...
  PORT=$(free_port)
  WARDEN_ADMIN_PASSWORD=$PASSWORD WARDEN_DEMO=true WARDEN_LOG=${WARDEN_LOG:-info} \
    "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$DB" "$@" >> "$TMP/warden.log" 2>&1 &
  PID=$!
  BASE="http://127.0.0.1:$PORT"
  wait_up "$BASE/healthz"
  TOKEN=$(demo_token "$BASE")
  export TOKEN
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
measure() { # side
  for s in "documents GET /api/documents/1 get.lua" "check1 POST /v1/check check1.lua" "check10 POST /v1/check check.lua"; do
    set -- $s
    rps=$(wrk -t2 -c32 -d10s -s "scripts/load/$4" "$BASE$3" | awk '/Requests\/sec/{print $2}')
    echo "$SIDE $1 $rps" | tee -a "$TMP/results"
  done
}
for r in $(seq 1 "$ROUNDS"); do
  SIDE=off; start; measure; stop
  rm -f "$TMP/decisions.jsonl"
  SIDE=on; start --decision-log "$TMP/decisions.jsonl" --decision-log-sample 1; measure; stop
  echo "round $r: $(wc -l < "$TMP/decisions.jsonl") decision lines written"
done
python3 - "$TMP/results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, scenario, rps = line.split()
    runs.setdefault(scenario, {}).setdefault(side, []).append(float(rps))
for scenario, sides in runs.items():
    off, on = statistics.median(sides["off"]), statistics.median(sides["on"])
    print(f"{scenario:<10} off {off:9.0f} req/s   on {on:9.0f} req/s   cost {100 * (off - on) / off:5.1f} %")
PY
