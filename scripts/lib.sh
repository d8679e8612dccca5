# Shared by the scripts in this folder: sourced (`. "$(dirname "$0")/lib.sh"`), never run.

# A free TCP port on 127.0.0.1 (closed again: the caller's server binds it a moment later).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_up URL [SECONDS]: returns once URL answers 2xx, or exits 1 after SECONDS (default 30).
wait_up() {
  local url=$1 tries=$(( ${2:-30} * 10 ))
  for _ in $(seq 1 "$tries"); do
    curl -fs -o /dev/null "$url" && return 0
    sleep 0.1
  done
  echo "server at $url did not start" >&2
  exit 1
}

# warden_bin: sets BIN to the release binary to time: WARDEN_BIN when set (a before/after
# comparison), else this tree, built. (Sets a variable: call it, never inside $(...).)
warden_bin() {
  if [ -z "${WARDEN_BIN:-}" ]; then cargo build --release --quiet --bin warden; fi
  BIN=${WARDEN_BIN:-${CARGO_TARGET_DIR:-target}/release/warden}
}

# seeded_database DIR [RULES]: a SQLite database in DIR holding the seed policy plus RULES
# (default 10,000) generated rules, imported by BIN (set by the caller); prints its URL.
seeded_database() {
  local dir=$1 rules=${2:-10000}
  python3 scripts/load/rules.py "$rules" > "$dir/policy.csv"
  WARDEN_ADMIN_PASSWORD=${PASSWORD:-load-test-password} "$BIN" policy import "$dir/policy.csv" \
    --database-url "sqlite://$dir/warden.db" >/dev/null
  echo "sqlite://$dir/warden.db"
}

# demo_token BASE: an access token of the demo user alice on the --demo server at BASE.
demo_token() {
  local password
  password=$(grep -o 'DEMO_PASSWORD: &str = "[^"]*"' src/bootstrap/demo.rs | cut -d'"' -f2)
  curl -fs -X POST "$1/v1/auth/token" -d "grant_type=password&username=alice&password=$password" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
