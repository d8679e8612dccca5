#!/usr/bin/env bash
# Issue 25's two database-sized analysis targets, on a fresh SQLite database. Run on demand
# (never from cargo test):
#   scripts/analysis-bench.sh [ROUNDS]
# Builds release, starts Warden with --demo once (migrations, keys, the demo accounts), stops
# it, then seeds in bulk with sqlite3 (one transaction each, no argon2: every bulk account gets
# the demo admin's precomputed hash):
#   - 100,000 documents replacing the demo ones, of which alice (viewer in eng, clearance 2)
#     may read exactly 10: 5 eng documents of classification 1 and 5 sales documents of
#     classification 1 she owns (the rest: sales, classification 3, owned by someone else),
#     spread over the id range (ids 20000, 40000, ... and 10000, 30000, ...), so a scan in id
#     order would have to pass nearly every row;
#   - 100,000 accounts u1..u100000, members of the default tenant, viewers, in 10 departments
#     (eng among them) with clearances 0-3.
# It restarts Warden on that database and times, with curl, ROUNDS (default 3) rounds of
# REQUESTS (default 11) requests each, printing each round's median and the median of the medians:
#   - alice's first page of GET /api/documents (target < 20 ms), checking it holds the 10;
#   - GET /v1/admin/analysis/who-can for document 20000 (eng, classification 1: the 7,500 eng
#     accounts of clearance >= 1 among the 100,000, plus the demo ones) and for document 1
#     (sales, classification 3: a handful), as the demo admin (target < 200 ms);
#   - the first who-can for document 20000 after an account write (each request preceded,
#     untimed, by a PATCH of one bulk account's clearance): what a who-can costs when the
#     member directory has to be read again (cold), reported separately.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROUNDS=${1:-3}
REQUESTS=${REQUESTS:-11}
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 command-line shell" >&2; exit 1; }
warden_bin
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
start() {
  WARDEN_ADMIN_PASSWORD=bench-admin-password WARDEN_DEMO=true WARDEN_LOG=${WARDEN_LOG:-warn} \
    "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "sqlite://$TMP/warden.db" \
    >> "$TMP/warden.log" 2>&1 &
  PID=$!
  wait_up "$BASE/healthz" 60
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

start
stop
T0=$(date +%s.%N)
sqlite3 "$TMP/warden.db" <<'SQL'
BEGIN;
DELETE FROM documents;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO documents (id, title, body, department, owner, classification, created_at, updated_at, tenant)
SELECT i, 'Document ' || i, 'bulk-seeded',
       CASE WHEN i % 20000 = 0 THEN 'eng' ELSE 'sales' END,
       CASE WHEN i % 20000 = 10000 THEN 'alice' ELSE 'zed' END,
       CASE WHEN i % 10000 = 0 THEN 1 ELSE 3 END,
       CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER), 'default'
FROM n;
COMMIT;
BEGIN;
-- attributes with their keys in Warden's order (sorted), as Warden stores them: an account
-- edit (PATCH) compares the stored text with the one it read, and refuses on a difference
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO users (username, username_key, password_hash, attributes, scopes, created_at, updated_at)
SELECT 'u' || i, 'u' || i, (SELECT password_hash FROM users WHERE username_key = 'admin'),
       json_object('clearance', i % 4, 'department', 'dept' || (i % 10)),
       'documents:read', CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER)
FROM n;
UPDATE users SET attributes = json_set(attributes, '$.department', 'eng')
WHERE username_key GLOB 'u[0-9]*' AND json_extract(attributes, '$.department') = 'dept0';
INSERT INTO tenant_members (tenant, user_id, created_at)
SELECT 'default', id, created_at FROM users WHERE username_key GLOB 'u[0-9]*';
INSERT INTO role_assignments (member, role, created_at, domain)
SELECT 'user:' || username_key, 'role:viewer', created_at, 'default' FROM users WHERE username_key GLOB 'u[0-9]*';
COMMIT;
SQL
echo "seeded 100,000 documents and 100,000 accounts in $(python3 -c "print(f'{$(date +%s.%N) - $T0:.1f}')") s"
start

token() { # username password scope
  curl -fs "$BASE/v1/auth/token" -d grant_type=password -d "username=$1" -d "password=$2" -d "scope=$3" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
DEMO_PASSWORD=$(grep -o 'DEMO_PASSWORD: &str = "[^"]*"' src/bootstrap/demo.rs | cut -d'"' -f2)
ALICE=$(token alice "$DEMO_PASSWORD" documents:read)
ADMIN=$(token admin bench-admin-password "")

# The first page holds alice's 10 documents and nothing else.
curl -fs "$BASE/api/documents" -H "authorization: Bearer $ALICE" | python3 -c '
import json, sys
ids = sorted(d["id"] for d in json.load(sys.stdin))
want = sorted(list(range(10000, 100001, 20000)) + list(range(20000, 100001, 20000)))
assert ids == want, ids
print("alice reads", len(ids), "of 100,000 documents")'

# time NAME URL TOKEN [WRITE]: ROUNDS rounds of REQUESTS requests, the median of each, then of
# the medians. With WRITE (a URL), each request is preceded, untimed, by a PATCH of an account
# there (its clearance moves, so the account data the request reads has changed).
time_it() {
  python3 - "$1" "$2" "$3" "$ROUNDS" "$REQUESTS" "${4:-}" <<'PY'
import json, statistics, subprocess, sys
name, url, token, rounds, requests = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
write = sys.argv[6]
medians = []
writes = 0
for r in range(rounds):
    times = []
    for _ in range(requests):
        if write:
            writes += 1
            body = json.dumps({"attributes": {"clearance": writes % 4}})
            code = subprocess.run(["curl", "-fs", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH",
                                   "-H", f"authorization: Bearer {token}", "-H", "content-type: application/json",
                                   "-d", body, write], capture_output=True, text=True).stdout
            assert code == "200", code
        out = subprocess.run(["curl", "-fs", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                              "-H", f"authorization: Bearer {token}", url],
                             capture_output=True, text=True, check=True).stdout.split()
        assert out[0] == "200", out
        times.append(float(out[1]) * 1000)
    medians.append(statistics.median(times))
    print(f"  {name}: round {r + 1}: median {medians[-1]:.1f} ms (min {min(times):.1f}, max {max(times):.1f})")
print(f"{name}: median of {rounds} medians {statistics.median(medians):.1f} ms")
PY
}
echo "loopback, $(nproc) cores, release build, SQLite; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
time_it "GET /api/documents (alice, first page)" "$BASE/api/documents" "$ALICE"
# Resident memory before and after the first who-can (which reads the default tenant's
# 100,000 members into the directory, if the binary keeps one).
rss() { awk '/VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$PID/status"; }
echo "server resident memory before the first who-can: $(rss)"
for doc in 20000 1; do
  curl -fs "$BASE/v1/admin/analysis/who-can?object_type=document&object_id=$doc&action=read" \
    -H "authorization: Bearer $ADMIN" \
    | python3 -c "import json,sys; print('who-can read document $doc:', len(json.load(sys.stdin)['subjects']), 'accounts')"
done
echo "server resident memory after it: $(rss)"
time_it "who-can read document 20000" \
  "$BASE/v1/admin/analysis/who-can?object_type=document&object_id=20000&action=read" "$ADMIN"
time_it "who-can read document 1" \
  "$BASE/v1/admin/analysis/who-can?object_type=document&object_id=1&action=read" "$ADMIN"
time_it "who-can read document 20000, first after an account write" \
  "$BASE/v1/admin/analysis/who-can?object_type=document&object_id=20000&action=read" "$ADMIN" \
  "$BASE/v1/admin/users/u1007"
