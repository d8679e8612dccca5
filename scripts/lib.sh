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
