#!/usr/bin/env bash
# Load test: POST /v1/check with a federated token (the real OIDC provider of tests/oidc) against
# the same with a local token of the same roles and attributes. Run on demand (never from cargo
# test):
#   scripts/federated-load.sh [ROUNDS]
# Builds release, starts tests/oidc/provider.mjs (npm ci first if needed) and Warden with
# --demo and an --oidc-config trusting the provider, takes the demo user alice's token (viewer,
# eng, clearance 2) and the provider's alice (the same claims), then runs wrk -t2 -c32 for
# $DURATION (default 10s) with scripts/load/check.lua, local and federated alternately, ROUNDS
# times (default 2), and prints each run and the federated/local ratio of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROUNDS=${1:-2}
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || sudo apt-get install -y wrk >/dev/null; }
[ -d tests/oidc/node_modules/oidc-provider ] || (cd tests/oidc && npm ci --no-audit --no-fund >/dev/null)
cargo build --release --quiet --bin warden
BIN=${CARGO_TARGET_DIR:-target}/release/warden
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

IDP_PORT=$(free_port)
PORT=$IDP_PORT node tests/oidc/provider.mjs > "$TMP/idp.out" 2>/dev/null &
PIDS+=($!)
IDP="http://127.0.0.1:$IDP_PORT"
wait_up "$IDP/.well-known/openid-configuration"
cat > "$TMP/oidc.yaml" <<YAML
- alias: node
  issuer: $IDP
  audiences: [urn:warden:api]
  algorithms: [ES256]
  roles_claim: groups
  scopes_claim: permissions
  attribute_claims:
    department: {claim: department, type: string}
    clearance: {claim: clearance, type: number}
YAML
PORT=$(free_port)
WARDEN_ADMIN_PASSWORD=load-test-password WARDEN_DEMO=true WARDEN_LOG=${WARDEN_LOG:-warn} \
  "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "sqlite://$TMP/warden.db" \
  --oidc-config "$TMP/oidc.yaml" > "$TMP/warden.log" 2>&1 &
PIDS+=($!)
BASE="http://127.0.0.1:$PORT"
wait_up "$BASE/healthz"

field() { python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
DEMO_PASSWORD=$(grep -o 'DEMO_PASSWORD: &str = "[^"]*"' src/bootstrap/demo.rs | cut -d'"' -f2)
LOCAL=$(curl -fs "$BASE/v1/auth/token" -d grant_type=password -d username=alice \
  -d "password=$DEMO_PASSWORD" -d scope=documents:read | field)
FEDERATED=$(curl -fs "$IDP/token" -d grant_type=urn:warden:test:account -d account=alice \
  -d client_id=warden-test -d client_secret=warden-test-secret | field)
for t in "$LOCAL" "$FEDERATED"; do
  test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t" "$BASE/v1/me")" = 200
done

run() { # name, token
  TOKEN=$2 wrk -t2 -c32 -d"$DURATION" --latency -s scripts/load/check.lua "$BASE/v1/check" \
    | python3 scripts/load/wrk_summary.py "$1"
}
echo "wrk -t2 -c32 -d$DURATION, loopback, $(nproc) cores, POST /v1/check (10 checks):"
: > "$TMP/runs"
for _ in $(seq 1 "$ROUNDS"); do
  run "local token (demo alice)" "$LOCAL" | tee -a "$TMP/runs"
  run "federated token (provider alice)" "$FEDERATED" | tee -a "$TMP/runs"
done
python3 - "$TMP/runs" <<'PY'
import re, statistics, sys
runs = {"local": [], "federated": []}
for line in open(sys.argv[1]):
    m = re.search(r"([\d,]+) req/s", line)
    if m:
        runs["federated" if line.startswith("federated") else "local"].append(float(m.group(1).replace(",", "")))
loc, fed = statistics.median(runs["local"]), statistics.median(runs["federated"])
print(f"median req/s: local {loc:,.0f}, federated {fed:,.0f}: federated/local = {fed/loc:.3f}")
PY
