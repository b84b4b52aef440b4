#!/usr/bin/env bash
# One command to set up and run ticketq on http://127.0.0.1:8000.
#
# Installs what is missing, builds, and starts ticketq-server. Unless a Redis
# is given (--redis URL or REDIS_URL), it first starts a private redis-server
# on a unix socket with its data in ./var/redis (appendonly, fsync always).
# Arguments are passed to ticketq-server, e.g. scripts/run.sh --capacity 100.
# Ctrl-C stops both.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/setup.sh"
TARGET=ticketq-server "$ROOT/scripts/build.sh"

mkdir -p "$ROOT/var"
args=("$@")
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

given_redis=""
for a in "$@"; do case "$a" in --redis|--redis=*) given_redis=1 ;; esac; done
if [ -z "$given_redis" ] && [ -z "${REDIS_URL:-}" ]; then
  dir="$ROOT/var/redis"
  mkdir -p "$dir"
  sock="$dir/redis.sock"
  redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$dir" \
    --appendonly yes --appendfsync always --save "" --logfile "$dir/redis.log" &
  redis_pid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
  [ -S "$sock" ] || { echo "run: private redis-server did not start, see $dir/redis.log" >&2; exit 1; }
  echo "run: private redis-server on unix://$sock (data in $dir)" >&2
  args+=(--redis "unix://$sock")
fi

# A stable admin token for local use, unless one is configured.
if [ -z "${TICKETQ_ADMIN_TOKEN:-}" ]; then
  token_file="$ROOT/var/admin-token"
  [ -s "$token_file" ] || (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")
  export TICKETQ_ADMIN_TOKEN="$(cat "$token_file")"
  echo "run: admin token in $token_file" >&2
fi

"$ROOT/build/ticketq-server" "${args[@]}" &
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null || true' INT TERM
wait $server_pid || status=$?
wait $server_pid 2>/dev/null || true
exit "${status:-0}"
