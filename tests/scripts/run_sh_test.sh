#!/usr/bin/env bash
# Tests scripts/run.sh with a ticketq-server already built (no setup, no
# build), its var dir in a temporary directory:
#   1. Ctrl-C in a terminal (SIGINT to the whole process group) while a
#      request waits in Redis: the request is answered 200, ticketq stops
#      cleanly, and only then is the private Redis stopped (SIGTERM; the
#      terminal's SIGINT never reached it). Also: the token given with
#      --admin-token is announced as such, never printed.
#   2. Without a token: one is kept in VAR/admin-token, and it works; and
#      an Ed25519 token key in VAR/token-key.pem (mode 600), which ticketq
#      signs with (the JWKS kid) and which a restart keeps.
#   2b. Token keys given (--token-keys): run.sh makes none.
#   3. ticketq exits on its own (a bad flag): Redis is stopped all the same.
# Usage: run_sh_test.sh PATH/TO/ticketq-server  (RUN_SH=path tests another
# run.sh). Every wait is bounded; nothing started is left running.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SERVER_BIN="${1:?usage: run_sh_test.sh PATH/TO/ticketq-server}"
RUN_SH="${RUN_SH:-$ROOT/scripts/run.sh}"
command -v curl >/dev/null || { echo "run_sh_test: needs curl (scripts/setup.sh installs it)" >&2; exit 1; }
command -v redis-cli >/dev/null || { echo "run_sh_test: needs redis-cli" >&2; exit 1; }
command -v openssl >/dev/null || { echo "run_sh_test: needs openssl (scripts/setup.sh installs it)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ticketq-run-sh-XXXXXX")"
run_pid=""    # run.sh, leader of its own process group
redis_pid=""  # the private redis-server run.sh started
failures=0

cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -KILL -- "-$run_pid" 2>/dev/null || true
  fi
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill -KILL "$redis_pid" 2>/dev/null || true
  fi
  if [ "$failures" -eq 0 ] || [ "${TICKETQ_TEST_KEEP_TMP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# wait_for SECONDS COMMAND...: polls every 50 ms until COMMAND succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}
# Gone, or a zombie nobody reaps yet (it has exited all the same).
dead() {
  ! kill -0 "$1" 2>/dev/null || [ "$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" = Z ]
}
show_logs() {
  echo "---- run.sh output ($1) ----" >&2
  cat "$WORK/$1.log" >&2 || true
  echo "---- redis log ----" >&2
  cat "$WORK/$1/redis/redis.log" >&2 2>/dev/null || true
  echo "----" >&2
}

# start NAME ARGS...: runs run.sh in a new session (its own process group,
# as a shell gives a foreground job), output in $WORK/NAME.log.
start() {
  local name="$1"
  shift
  env -u REDIS_URL -u TICKETQ_ADMIN_TOKEN -u TICKETQ_CONFIG -u TICKETQ_TOKEN_KEYS \
    TICKETQ_SERVER_BIN="$SERVER_BIN" TICKETQ_VAR_DIR="$WORK/$name" \
    setsid bash "$RUN_SH" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  run_pid=$!
  redis_pid=""
}
# up NAME: waits until ticketq listens; sets $port and $redis_pid.
up() {
  local log="$WORK/$1.log"
  if ! wait_for 60 grep -q "listening on http://127.0.0.1:" "$log"; then
    fail "$1: ticketq did not start"
    show_logs "$1"
    return 1
  fi
  port="$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -1)"
  redis_pid="$(sed -n 's|.*private redis-server (pid \([0-9]*\)).*|\1|p' "$log" | head -1)"
  [ -n "$redis_pid" ] || { fail "$1: run.sh did not say which redis-server it started"; return 1; }
  [ "$(cat "/proc/$redis_pid/comm" 2>/dev/null)" = redis-server ] ||
    fail "$1: pid $redis_pid is not the redis-server"
  wait_for 30 curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$port/ready" ||
    { fail "$1: /ready never answered 200"; return 1; }
}
# finish NAME: waits (bounded) for run.sh to end; sets $run_status.
finish() {
  run_status=0
  if ! wait_for 60 dead "$run_pid"; then
    fail "$1: run.sh still running 60 s after the signal"
    kill -KILL -- "-$run_pid" 2>/dev/null || true
  fi
  wait "$run_pid" || run_status=$?
  run_pid=""
}

# ---- 1. Ctrl-C with a request in flight ----------------------------------
TOKEN="run-sh-test-token-5c1e0a"
# Without the admission timer, and once the default event is read, the
# reserve below is the only call ticketq makes to Redis: its walk of the
# events (every 2 s) is a script, which a CLIENT PAUSE WRITE blocks too, and
# would pass for the request in flight.
start ctrlc --port 0 --threads 1 --admin-token "$TOKEN" --request-timeout-ms 30000 \
  --admission-tick-ms 0
if up ctrlc; then
  sock="$WORK/ctrlc/redis/redis.sock"
  # At start ticketq reads (and stores) the default event's settings, a
  # script the pause below would block too: it goes first.
  wait_for 30 grep -q "default event: " "$WORK/ctrlc.log" ||
    fail "ticketq never read the default event's settings"
  # Hold every write in Redis for 3 s, send a reserve, and wait until it is
  # the one client blocked there: it is in flight.
  redis-cli -s "$sock" CLIENT PAUSE 3000 WRITE >/dev/null
  curl -sS --max-time 30 -o "$WORK/inflight.body" -w '%{http_code}' \
    -d '{"user_id":"in-flight"}' "http://127.0.0.1:$port/reserve" >"$WORK/inflight.code" 2>&1 &
  curl_pid=$!
  wait_for 10 sh -c "redis-cli -s '$sock' INFO clients | grep -q '^blocked_clients:1'" ||
    fail "the request never reached Redis"
  kill -INT -- "-$run_pid"  # what a terminal does on Ctrl-C
  finish ctrlc
  wait_for 40 dead "$curl_pid" || kill -KILL "$curl_pid" 2>/dev/null || true
  wait "$curl_pid" 2>/dev/null || true
  log="$WORK/ctrlc.log"
  redis_log="$WORK/ctrlc/redis/redis.log"
  [ "$run_status" -eq 0 ] || fail "run.sh exited $run_status, not 0"
  [ "$(cat "$WORK/inflight.code")" = 200 ] ||
    fail "the request in flight got $(cat "$WORK/inflight.code"): $(cat "$WORK/inflight.body" 2>/dev/null)"
  grep -q "received SIGINT, shutting down" "$log" || fail "ticketq did not get the SIGINT"
  grep -q "stopped" "$log" || fail "ticketq did not log that it stopped"
  ! grep -q "redis: connection .* lost" "$log" || fail "ticketq lost Redis before it stopped"
  wait_for 10 dead "$redis_pid" || fail "redis-server (pid $redis_pid) still running"
  ! grep -q "Received SIGINT" "$redis_log" || fail "the terminal's SIGINT reached Redis"
  grep -q "Received SIGTERM" "$redis_log" || fail "Redis was not stopped with SIGTERM"
  grep -q "admin token: from --admin-token" "$log" || fail "the token's source was not announced"
  ! grep -q "admin token in" "$log" || fail "run.sh pointed at a token file it did not use"
  ! grep -q "$TOKEN" "$log" || fail "the admin token was printed"
  [ "$failures" -eq 0 ] || show_logs ctrlc
fi

# ---- 2. No token given: a stable one in VAR/admin-token ---------------------
start token --port 0 --threads 1
if up token; then
  token_file="$WORK/token/admin-token"
  grep -q "admin token in $token_file" "$WORK/token.log" || fail "token file not announced"
  code="$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST \
    -H "X-Token: $(cat "$token_file" 2>/dev/null)" "http://127.0.0.1:$port/process_queue")"
  [ "$code" = 200 ] || fail "the token of $token_file was refused ($code)"
  key_file="$WORK/token/token-key.pem"
  grep -q "token signing key in $key_file" "$WORK/token.log" || fail "token key not announced"
  [ "$(stat -c %a "$key_file" 2>/dev/null)" = 600 ] || fail "$key_file is not mode 600"
  openssl pkey -in "$key_file" -noout -text 2>/dev/null | grep -q "ED25519 Private-Key" ||
    fail "$key_file is not an Ed25519 private key"
  kid="$(curl -sS --max-time 10 "http://127.0.0.1:$port/.well-known/jwks.json" |
    sed -n 's/.*"kid":"\([^"]*\)".*/\1/p')"
  [ -n "$kid" ] || fail "no kid in /.well-known/jwks.json"
  grep -q "tokens: signing with kid $kid" "$WORK/token.log" || fail "ticketq does not sign with $kid"
  ! grep -q "PRIVATE KEY" "$WORK/token.log" || fail "the token key was printed"
  kill -TERM "$run_pid"  # run.sh alone: it passes the signal on
  finish token
  [ "$run_status" -eq 0 ] || fail "run.sh exited $run_status after SIGTERM"
  wait_for 10 dead "$redis_pid" || fail "redis-server (pid $redis_pid) still running"
  # Started again on the same var dir: the same key, so earlier tokens still
  # verify. (The first run's log moves away first, so that nothing waits on
  # its lines.)
  mv "$WORK/token.log" "$WORK/token-first.log"
  start token --port 0 --threads 1
  if up token; then
    again="$(curl -sS --max-time 10 "http://127.0.0.1:$port/.well-known/jwks.json" |
      sed -n 's/.*"kid":"\([^"]*\)".*/\1/p')"
    [ "$again" = "$kid" ] || fail "the restart signs with another key ($again, not $kid)"
    kill -TERM "$run_pid"
    finish token
    wait_for 10 dead "$redis_pid" || fail "redis-server (pid $redis_pid) still running"
  fi
  [ "$failures" -eq 0 ] || show_logs token
fi

# ---- 2b. Token keys given: run.sh makes none -----------------------------------
given_key="$WORK/given-key.pem"
openssl genpkey -algorithm ed25519 -out "$given_key" 2>/dev/null || fail "openssl genpkey failed"
start keys --port 0 --threads 1 --token-keys "$given_key"
if up keys; then
  grep -q "token keys: from --token-keys" "$WORK/keys.log" || fail "the keys' source was not announced"
  [ ! -e "$WORK/keys/token-key.pem" ] || fail "run.sh made a key though one was given"
  kill -TERM "$run_pid"
  finish keys
  wait_for 10 dead "$redis_pid" || fail "redis-server (pid $redis_pid) still running"
  [ "$failures" -eq 0 ] || show_logs keys
fi

# ---- 3. ticketq exits on its own ---------------------------------------------
start badflag --port 0 --capacity not-a-number
finish badflag
[ "$run_status" -ne 0 ] || fail "run.sh exited 0 though ticketq refused its flags"
redis_pid="$(sed -n 's|.*private redis-server (pid \([0-9]*\)).*|\1|p' "$WORK/badflag.log" | head -1)"
if [ -z "$redis_pid" ]; then
  fail "no private redis-server was started"
else
  wait_for 10 dead "$redis_pid" || fail "redis-server (pid $redis_pid) outlived ticketq"
fi
[ "$failures" -eq 0 ] || show_logs badflag

if [ "$failures" -ne 0 ]; then
  echo "run_sh_test: $failures failure(s)" >&2
  exit 1
fi
echo "run_sh_test: all passed"
