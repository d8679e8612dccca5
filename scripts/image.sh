#!/usr/bin/env bash
# Builds Warden's self-contained container image FROM scratch and runs its binary inside it as
# the image's non-root user: /healthz answers, the bootstrap admin logs in, the image's own
# HEALTHCHECK command passes. Exits non-zero (with the server's log) on any failure.
#
# Made for a machine that can neither pull a base image nor start a container (CI here: no
# registry but the package ones, and the sandbox refuses crun's rlimits), so:
#   1. `cargo build --release --locked --bin warden` (a no-op after scripts/schemathesis.sh);
#   2. the image's root is assembled from the host: the binary, the libraries `ldd` names, the
#      CA certificates, /etc/passwd + /etc/group with user warden (10001), /data, /tmp;
#   3. `podman build --isolation chroot --format docker` (docker format keeps the HEALTHCHECK)
#      of scripts/image/scratch.Containerfile, in a private podman store under a temporary
#      directory, so nothing is left in the host's store;
#   4. the image's configuration is checked (user, environment, HEALTHCHECK), the image is
#      mounted (`podman image mount`), a fresh directory owned by 10001 is bound onto its /data
#      (what a volume is), and the binary runs in that root with `chroot --userspec=10001:10001`
#      and the image's environment only: `serve --listen 127.0.0.1:<free port>` with the
#      admin password in WARDEN_ADMIN_PASSWORD;
#   5. when WARDEN_TEST_POSTGRES names a server (.ci/run exports its throwaway cluster), the
#      same again on a fresh Postgres database (what the compose file runs): /healthz, a login.
# Everything is unmounted and removed on every exit path. Needs root (mount, chroot), podman
# (Debian's `podman`), curl and python3. Prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

started=$SECONDS
uid=10001
gid=10001

if [ "$(id -u)" != 0 ]; then
  echo "scripts/image.sh needs root (podman image mount, mount --bind, chroot)" >&2
  exit 1
fi
command -v podman >/dev/null || {
  echo "scripts/image.sh needs podman (apt-get install podman)" >&2
  exit 1
}

work=$(mktemp -d /tmp/warden-image.XXXXXX)
podman=(podman --root "$work/store" --runroot "$work/run")
image=localhost/warden-scratch:ci
mounted=""
server=""
pg_created=""
pg_db=""

# stop PID: SIGTERM, as `docker stop` sends it; SIGKILL after 10 s, as `docker stop` would.
# Succeeds when the process ended by itself with status 0.
stop() {
  local rc=0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then
    echo "pid $1 still runs 10 s after SIGTERM: killed" >&2
    kill -9 "$1" 2>/dev/null || true
    rc=1
  fi
  wait "$1" 2>/dev/null || rc=$?
  return "$rc"
}

cleanup() {
  local rc=$?
  set +e
  [ -n "$server" ] && stop "$server"
  # anything still running inside the image's root (only this script starts processes there)
  for p in /proc/[0-9]*; do
    case $(readlink "$p/root" 2>/dev/null) in "$work"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
  done
  [ -n "$pg_created" ] && psql -q "$WARDEN_TEST_POSTGRES" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1
  if [ "$rc" != 0 ] && [ -s "$work/serve.log" ]; then
    echo "--- warden's log:" >&2
    cat "$work/serve.log" >&2
  fi
  [ -n "$mounted" ] && umount "$mounted/data" 2>/dev/null
  if [ -d "$work/store" ]; then
    "${podman[@]}" image unmount --all >/dev/null 2>&1
    "${podman[@]}" rmi --force "$image" >/dev/null 2>&1
  fi
  # whatever podman left mounted under the private store (deepest first), then the directory
  awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf "$work"
  [ "$rc" = 0 ] || echo "scripts/image.sh FAILED (exit $rc)" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "scripts/image.sh: $*" >&2
  exit 1
}

# 1. The binary.
cargo build --release --locked --quiet --bin warden
bin=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/warden

# 2. The image's root.
ctx=$work/context
root=$ctx/rootfs
mkdir -p "$root" "$ctx/owned/data"
install -D -m 0755 "$bin" "$root/usr/local/bin/warden"
libs=$(ldd "$bin") || fail "ldd $bin failed"
if grep -q 'not found' <<<"$libs"; then
  fail "a library the binary links is missing: $libs"
fi
# `name => /path (addr)` and the loader's `/path (addr)`; the vDSO has no path.
paths=$(grep -o '/[^ ]*' <<<"$libs")
while read -r lib; do
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done <<<"$paths"
grep -q 'ld-linux' <<<"$libs" || fail "no dynamic loader in: $libs"
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\nwarden:x:%s:%s:Warden:/data:/sbin/nologin\n' "$uid" "$gid" \
  >"$root/etc/passwd"
printf 'root:x:0:\nwarden:x:%s:\n' "$gid" >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"
install -d -m 1777 "$root/tmp"
chmod 0700 "$ctx/owned/data"
cp scripts/image/scratch.Containerfile "$ctx/Containerfile"

# 3. The image.
"${podman[@]}" build --quiet --isolation chroot --format docker --tag "$image" "$ctx" >/dev/null
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$image")
echo "image: FROM scratch, $((size / 1024 / 1024)) MiB, $(wc -l <<<"$paths") libraries from ldd"

# 4. Its configuration, then the binary in its root as its user.
inspect=$("${podman[@]}" image inspect "$image")
python3 -c '
import json, sys
image = json.loads(sys.argv[1])[0]
c = image["Config"]
want = {"User": "10001:10001", "Entrypoint": ["/usr/local/bin/warden"], "Cmd": ["serve"]}
for k, v in want.items():
    assert c.get(k) == v, f"{k}: {c.get(k)!r}, expected {v!r}"
env = c.get("Env") or []
for e in ("WARDEN_LISTEN=0.0.0.0:8080", "WARDEN_DATABASE_URL=sqlite:///data/warden.db"):
    assert e in env, f"Env {env!r} lacks {e}"
assert "/data" in (c.get("Volumes") or {}), c.get("Volumes")
hc = (image.get("Healthcheck") or {}).get("Test")
assert hc == ["CMD", "/usr/local/bin/warden", "healthcheck"], f"Healthcheck: {hc!r}"
'  "$inspect" || fail "the image's configuration is not what scratch.Containerfile says"
mapfile -t image_env < <(python3 -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])[0]["Config"]["Env"]))' "$inspect")

mounted=$("${podman[@]}" image mount "$image")
[ -x "$mounted/usr/local/bin/warden" ] || fail "no binary in the mounted image at $mounted"
[ "$(stat -c '%u:%g %a' "$mounted/data")" = "$uid:$gid 700" ] ||
  fail "/data in the image is $(stat -c '%u:%g %a' "$mounted/data"), expected $uid:$gid 700"
[ "$(stat -c '%a' "$mounted/tmp")" = 1777 ] || fail "/tmp in the image is not 1777"
# The volume: a fresh directory of the user's, where the image has /data.
install -d -m 0700 -o "$uid" -g "$gid" "$work/volume"
mount --bind "$work/volume" "$mounted/data"

# serve_in_image [VAR=value...]: starts `warden serve` in the image's root as its user, with the
# image's environment plus the given variables, on a free loopback port ($port), admin password
# $password; returns once /healthz answers, having checked who and where the process is.
serve_in_image() {
  port=$(free_port)
  : >"$work/serve.log"
  # (env itself in the background, not a function: $! is then warden's own pid)
  env -i "${image_env[@]}" WARDEN_ADMIN_PASSWORD="$password" "$@" \
    chroot --userspec="$uid:$gid" "$mounted" /usr/local/bin/warden serve --listen "127.0.0.1:$port" \
    >"$work/serve.log" 2>&1 &
  server=$!
  wait_up "http://127.0.0.1:$port/healthz" 60
  kill -0 "$server" 2>/dev/null || fail "warden exited"
  # the image's binary, in the image's root, as the image's user with no other group (real,
  # effective, saved and filesystem ids; supplementary groups none or its own)
  if [ "$(readlink "/proc/$server/root")" != "$mounted" ] ||
    [ "$(readlink "/proc/$server/exe")" != "$mounted/usr/local/bin/warden" ]; then
    fail "pid $server is not the image's binary in the image's root"
  fi
  local ids
  ids=$(awk '/^(Uid|Gid|Groups):/ { for (i = 2; i <= NF; i++) printf "%s ", $i }' "/proc/$server/status")
  case "$ids" in
    "$uid $uid $uid $uid $gid $gid $gid $gid " | "$uid $uid $uid $uid $gid $gid $gid $gid $gid ") ;;
    *) fail "warden runs as uid/gid/groups '$ids', expected $uid:$gid only" ;;
  esac
}

# login_as_admin: the bootstrap admin's password grant gets a bearer access token (the form in a
# private file, not on curl's command line; of a refusal only the error code is shown).
login_as_admin() {
  local answer status body
  printf 'grant_type=password&username=admin&password=%s' "$password" >"$work/login.form"
  answer=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$port/v1/auth/token" \
    -H 'content-type: application/x-www-form-urlencoded' --data-binary "@$work/login.form")
  status=${answer##*$'\n'}
  body=${answer%$'\n'*}
  [ "$status" = 200 ] || fail "login answered $status: $(python3 -c \
    'import json, sys; print(json.loads(sys.argv[1]).get("error"))' "$body" 2>/dev/null)"
  python3 -c '
import json, sys
t = json.loads(sys.argv[1])
assert t.get("token_type") == "bearer" and t.get("access_token", "").count(".") == 2, t.keys()
' "$body" || fail "the login's answer holds no access token"
}

umask 077
password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
serve_in_image
echo "serve: up as $uid:$gid on 127.0.0.1:$port, SQLite database in the volume"
login_as_admin
echo "login: admin got an access token"
# The image's own HEALTHCHECK command, in the image, as its user (WARDEN_LISTEN names the port).
env -i "${image_env[@]}" WARDEN_LISTEN="127.0.0.1:$port" \
  chroot --userspec="$uid:$gid" "$mounted" /usr/local/bin/warden healthcheck ||
  fail "the HEALTHCHECK command failed"
stop "$server" || fail "warden did not stop cleanly on SIGTERM within 10 s"
server=""
[ "$(stat -c '%u %a' "$work/volume/warden.db")" = "$uid 600" ] ||
  fail "the database in the volume is $(stat -c '%u %a' "$work/volume/warden.db" 2>&1), expected $uid 600"

# 5. On Postgres too (what the compose file runs), when WARDEN_TEST_POSTGRES names a server
# whose user may create databases (.ci/run exports its throwaway cluster): a fresh database.
if [ -n "${WARDEN_TEST_POSTGRES:-}" ]; then
  pg_db=warden_image_$$
  psql -q -v ON_ERROR_STOP=1 "$WARDEN_TEST_POSTGRES" -c "CREATE DATABASE $pg_db" >/dev/null
  pg_created=1
  serve_in_image WARDEN_DATABASE_URL="${WARDEN_TEST_POSTGRES%/*}/$pg_db"
  login_as_admin
  stop "$server" || fail "warden on Postgres did not stop cleanly on SIGTERM within 10 s"
  server=""
  echo "postgres: up as $uid:$gid on a fresh database, admin got an access token"
fi
echo "scripts/image.sh: ok in $((SECONDS - started)) s"
