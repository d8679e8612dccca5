#!/usr/bin/env bash
# Forward-auth throughput through a real nginx. Run on demand (never from cargo test):
#   scripts/forward-load.sh
# Builds release, starts Warden on a free loopback port (temporary SQLite database, seed policy,
# --trusted-proxies 127.0.0.1/32), registers one user, and starts nginx (Debian's, one worker)
# with scripts/nginx/forward-auth.conf in front of a static upstream served by the same nginx.
# Then wrk -t2 -c32 for $DURATION (default 10s) per scenario:
#   1. nginx -> upstream, no auth (the ceiling of this setup)
#   2. nginx -> auth_request to Warden -> upstream (GET /app/hello, allowed)
#   3. the same, denied (PUT: 403 from Warden, so nginx answers 403)
#   4. Warden's /v1/authz/forward asked directly (what one auth subrequest costs Warden)
# and prints req/s, p50 and p99 for each. Needs nginx and wrk (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
DURATION=${DURATION:-10s}
PASSWORD=load-test-password
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "needs nginx at $NGINX (apt-get install nginx)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
warden_bin
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT


PORT=$(free_port)
WARDEN_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn WARDEN_TRUSTED_PROXIES=127.0.0.1/32 \
  "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "sqlite://$TMP/warden.db" > "$TMP/warden.log" 2>&1 &
PIDS+=($!)
BASE="http://127.0.0.1:$PORT"
wait_up "$BASE/healthz"
curl -fs -o /dev/null -X POST "$BASE/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"username\":\"reader\",\"password\":\"$PASSWORD\"}"
TOKEN=$(curl -fs -X POST "$BASE/v1/auth/token" -d "grant_type=password&username=reader&password=$PASSWORD" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export TOKEN

# nginx (one worker) with a static upstream in the same nginx.
NPORT=$(free_port)
APORT=$(free_port)
user=""
[ "$(id -u)" = 0 ] && user="user root;"
# The README's snippet with this run's ports, plus /plain/: the same proxying without auth.
snippet=$(sed -e "s/127.0.0.1:8080/127.0.0.1:$PORT/" -e "s/127.0.0.1:3000/127.0.0.1:$APORT/" \
  -e "s/127.0.0.1:8000/127.0.0.1:$NPORT/" \
  -e 's|^    location /app/ {|    location /plain/ { proxy_pass http://127.0.0.1:'"$APORT"'; }\n&|' \
  scripts/nginx/forward-auth.conf)
cat > "$TMP/nginx.conf" <<CONF
$user
daemon off;
worker_processes 1;
error_log $TMP/error.log warn;
pid $TMP/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/body; proxy_temp_path $TMP/proxy; fastcgi_temp_path $TMP/fastcgi;
  uwsgi_temp_path $TMP/uwsgi; scgi_temp_path $TMP/scgi;
  server { listen 127.0.0.1:$APORT; location / { return 200 "hello\n"; } }
$snippet
}
CONF
"$NGINX" -p "$TMP" -e "$TMP/error.log" -c "$TMP/nginx.conf" &
PIDS+=($!)
N="http://127.0.0.1:$NPORT"
wait_up "$N/plain/x"
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$N/app/hello")" = 200
test "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" "$N/app/hello")" = 403

cat > "$TMP/put.lua" <<'LUA'
wrk.method = "PUT"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
LUA
cat > "$TMP/direct.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["X-Original-Method"] = "GET"
wrk.headers["X-Original-URI"] = "/app/hello"
LUA

run() { # name, url, [lua script]
  local name=$1 url=$2 script=${3:-}
  wrk -t2 -c32 -d"$DURATION" --latency ${script:+-s "$script"} "$url" \
    | python3 scripts/load/wrk_summary.py "$name"
}

run "nginx -> upstream, no auth (ceiling)" "$N/plain/hello"
run "nginx -> Warden forward-auth -> upstream (200)" "$N/app/hello" scripts/load/get.lua
run "nginx -> Warden forward-auth, denied (403)" "$N/app/hello" "$TMP/put.lua"
run "Warden /v1/authz/forward directly (204)" "$BASE/v1/authz/forward" "$TMP/direct.lua"
