#!/usr/bin/env bash
# One command to set up and run ticketq on http://127.0.0.1:8000.
#
# Installs what is missing, builds, and starts ticketq-server. Unless a Redis
# is given (--redis URL or REDIS_URL), it first starts a private redis-server
# on a unix socket with its data in ./var/redis (appendonly, fsync always).
# Unless token keys are given (--token-keys, TICKETQ_TOKEN_KEYS or a --config
# file), it makes an Ed25519 key in ./var/token-key.pem on first start (mode
# 600, openssl genpkey) and signs tokens with it, so they survive restarts.
# Arguments are passed to ticketq-server, e.g. scripts/run.sh --capacity 100.
# Ctrl-C stops both: ticketq first (it lets requests in flight finish), then
# Redis.
#
# Environment:
#   TICKETQ_SERVER_BIN=path  run this ticketq-server as it is: no setup.sh,
#                            no build (tests pass the binary of their build)
#   TICKETQ_VAR_DIR=dir      the private Redis's data, the admin token file
#                            and the token key (default: var/ in the repository)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR_DIR="${TICKETQ_VAR_DIR:-$ROOT/var}"

redis_pid=""
server_pid=""
# Every way out: ticketq stops first, then Redis, each waited for.
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ -n "${TICKETQ_SERVER_BIN:-}" ]; then
  server_bin="$TICKETQ_SERVER_BIN"
else
  "$ROOT/scripts/setup.sh"
  server_bin="${BUILD_DIR:-$ROOT/build}/ticketq-server"
  [ -x "$server_bin" ] ||
    echo "run: building ticketq-server: the first build takes several minutes (6 to 10 on 2 cores); build: lines show its progress" >&2
  TARGET=ticketq-server "$ROOT/scripts/build.sh"
fi

mkdir -p "$VAR_DIR"
args=("$@")

# What the command line says about Redis, the admin token, the token keys and
# a config file.
given_redis="" token_flag="" keys_flag="" config="${TICKETQ_CONFIG:-}"
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --redis | --redis=*) given_redis=1 ;;
    --admin-token | --admin-token=*) token_flag=1 ;;
    --token-keys | --token-keys=*) keys_flag=1 ;;
    --config) config="${args[i + 1]:-}" ;;
    --config=*) config="${args[i]#--config=}" ;;
  esac
done

if [ -z "$given_redis" ] && [ -z "${REDIS_URL:-}" ]; then
  dir="$VAR_DIR/redis"
  mkdir -p "$dir"
  sock="$dir/redis.sock"
  rm -f "$sock"  # left by a run that was killed: not a sign of this one
  # In a session of its own (setsid), so that the terminal's Ctrl-C, sent to
  # the whole foreground process group, does not reach it: Redis must stay
  # up until ticketq has drained, and cleanup stops it after ticketq.
  setsid redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$dir" \
    --appendonly yes --appendfsync always --save "" --logfile "$dir/redis.log" &
  redis_pid=$!
  for _ in $(seq 100); do
    [ -S "$sock" ] && break
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -S "$sock" ] || { echo "run: private redis-server did not start, see $dir/redis.log" >&2; exit 1; }
  echo "run: private redis-server (pid $redis_pid) on unix://$sock (data in $dir)" >&2
  args+=(--redis "unix://$sock")
fi

# given LABEL SEEN FLAG ENV KEY: says where a setting comes from, in
# ticketq's order of precedence (FLAG on the command line when SEEN is set,
# the environment variable ENV, a non-empty KEY in the config file); false
# when nothing gives it.
given() {
  if [ -n "$2" ]; then
    echo "run: $1: from $3" >&2
  elif [ -n "${!4:-}" ]; then
    echo "run: $1: from $4" >&2
  elif [ -n "$config" ] && grep -Eq "^[[:space:]]*$5[[:space:]]*=[[:space:]]*(\"[^\"]|'[^'])" "$config" 2>/dev/null; then
    echo "run: $1: from $config" >&2
  else
    return 1
  fi
}

# The admin token: a stable one for local use when none is given.
if ! given "admin token" "$token_flag" --admin-token TICKETQ_ADMIN_TOKEN admin_token; then
  token_file="$VAR_DIR/admin-token"
  [ -s "$token_file" ] || (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")
  export TICKETQ_ADMIN_TOKEN="$(cat "$token_file")"
  echo "run: admin token in $token_file" >&2
fi

# The key that signs user and admission tokens: one kept in the var dir when
# none is given (without one, ticketq would make a new key at every start,
# and the tokens of the previous run would no longer verify).
if ! given "token keys" "$keys_flag" --token-keys TICKETQ_TOKEN_KEYS token_keys; then
  key_file="$VAR_DIR/token-key.pem"
  if [ ! -s "$key_file" ]; then
    command -v openssl >/dev/null ||
      { echo "run: the openssl CLI is needed to make $key_file (scripts/setup.sh installs it)" >&2; exit 1; }
    (umask 077 && openssl genpkey -algorithm ed25519 -out "$key_file.new" && mv "$key_file.new" "$key_file") ||
      { echo "run: could not make $key_file" >&2; exit 1; }
  fi
  args+=(--token-keys "$key_file")
  echo "run: token signing key in $key_file" >&2
fi

"$server_bin" "${args[@]}" &
server_pid=$!
# ticketq gets the terminal's SIGINT itself; a SIGTERM (or SIGINT sent to
# this script alone) is passed on. Either way, wait until it has exited.
trap 'kill -TERM "$server_pid" 2>/dev/null || true' INT TERM HUP
status=0
while :; do
  wait "$server_pid" && status=0 || status=$?
  kill -0 "$server_pid" 2>/dev/null || break  # exited (else: a signal woke the wait)
done
server_pid=""
exit "$status"
