#!/usr/bin/env bash
# Checks the live HTTP surface against its own OpenAPI description.
#
# Builds the release binary, starts it on a free loopback port with a throw-away database,
# validates /openapi.json with openapi-spec-validator, then runs schemathesis against it three
# times (anonymously, as the bootstrap admin, and on the tenant routes as a tenant's admin) with
# three checks: no 5xx, every response body
# matches its schema, every status is documented. Exits non-zero on any finding.
#
# Python tools come from PyPI into a virtualenv under target/ (created on first use).
# Knobs: SCHEMATHESIS_MAX_EXAMPLES (default 20 per operation), SCHEMATHESIS_SEED,
# SCHEMATHESIS_VENV, SCHEMATHESIS_CARGO_PROFILE (release; `dev` for a quicker local loop).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SCHEMATHESIS_VENV:-target/venv}
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-20}
started=$SECONDS

if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'schemathesis>=4.0,<5' 'openapi-spec-validator>=0.7,<1'
fi

profile=${SCHEMATHESIS_CARGO_PROFILE:-release}
cargo build --profile "$profile" --quiet
venv=$(cd "$venv" && pwd)
reports=$(mkdir -p "${SCHEMATHESIS_REPORT_DIR:-target}" && cd "${SCHEMATHESIS_REPORT_DIR:-target}" && pwd)
target=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
bin=$target/$([ "$profile" = dev ] && echo debug || echo "$profile")/warden

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A fresh password each run: it exists only for this process tree.
WARDEN_ADMIN_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
export WARDEN_ADMIN_PASSWORD
: >"$work/server.log" # exists before the loop below reads it
WARDEN_LISTEN=127.0.0.1:0 WARDEN_DATABASE_URL="sqlite://$work/warden.db" WARDEN_EXAMPLE_DOCUMENTS=true \
  "$bin" serve >"$work/server.log" 2>&1 &
server=$!

addr=""
for _ in $(seq 1 150); do
  addr=$(sed -n 's|^warden listening on http://\([0-9.]*:[0-9]*\).*|\1|p' "$work/server.log" | head -n1)
  [ -n "$addr" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "warden exited before listening:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
if [ -z "$addr" ]; then
  echo "warden did not report its address within 30 s" >&2
  cat "$work/server.log" >&2
  exit 1
fi
base="http://$addr"
echo "warden under test at $base"

curl -fsS "$base/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

token=$(curl -fsS "$base/v1/auth/token" \
  --data-urlencode grant_type=password \
  --data-urlencode username=admin \
  --data-urlencode "password=$WARDEN_ADMIN_PASSWORD" |
  "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# A tenant and its admin's token for the tenant run, made before the runs: afterwards the
# address's logins are throttled by the runs' own attempts (429).
tenant_json() { "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)'"$1"')'; }
curl -fsS -X POST "$base/v1/admin/tenants" -H "Authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"name": "st-tenant"}' >/dev/null
tenant_password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
curl -fsS -X POST "$base/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"username\": \"st-tenant-admin\", \"password\": \"$tenant_password\"}" >/dev/null
curl -fsS -X PUT "$base/v1/tenants/st-tenant/admin/members/st-tenant-admin" -H "Authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"roles": ["role:tenant-admin"]}' >/dev/null
tenant_token=$(curl -fsS "$base/v1/auth/token" --data-urlencode grant_type=password \
  --data-urlencode username=st-tenant-admin --data-urlencode "password=$tenant_password" \
  --data-urlencode tenant=st-tenant | tenant_json '["access_token"]')

checks=not_a_server_error,response_schema_conformance,status_code_conformance
common=(
  --checks "$checks"
  --max-examples "$max_examples"
  --seed "${SCHEMATHESIS_SEED:-20240601}"
  --workers 2
  --request-timeout 10
  --generation-database none
  --no-color
)

status=0
# schemathesis keeps a cache in its working directory: keep it out of the clone.
cd "$work"
echo "== schemathesis, anonymous"
"$venv/bin/schemathesis" run "$base/openapi.json" "${common[@]}" \
  --report junit --report-junit-path "$reports/schemathesis-anonymous.xml" ||
  status=1

# As a tenant admin of a tenant that exists (`tenant` fixed to it, so the tenant-scoped
# routes run their handlers instead of answering 404 for a random tenant name). Before the
# admin's run, which may delete or disable that account or tenant (its stateful phase follows
# the lists' names).
printf '[parameters]\n"path.tenant" = "st-tenant"\n' >"$work/tenant.toml"
echo "== schemathesis, as the tenant admin of st-tenant, on its routes"
"$venv/bin/schemathesis" --config-file "$work/tenant.toml" run "$base/openapi.json" "${common[@]}" \
  -H "Authorization: Bearer $tenant_token" --include-path-regex '^/v1/tenants/' \
  --report junit --report-junit-path "$reports/schemathesis-tenant.xml" ||
  status=1

# As admin, logout-all would revoke the very token the run uses (every later call a 401), and
# the policy stream never ends (tests/api/stream.rs covers it).
echo "== schemathesis, as admin"
"$venv/bin/schemathesis" run "$base/openapi.json" "${common[@]}" \
  -H "Authorization: Bearer $token" --exclude-path /v1/auth/logout-all \
  --exclude-path /v1/policy/stream \
  --report junit --report-junit-path "$reports/schemathesis-admin.xml" ||
  status=1

if grep -qi "panicked" "$work/server.log"; then
  echo "the server log shows a panic:" >&2
  grep -i -A3 "panicked" "$work/server.log" >&2
  status=1
fi
echo "schemathesis finished in $((SECONDS - started)) s (exit $status)"
exit "$status"
