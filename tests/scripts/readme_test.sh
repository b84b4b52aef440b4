#!/usr/bin/env bash
# Runs the README's curl walk-through (the sh block after the
# "<!-- walkthrough -->" marker) against scripts/run.sh with this build's
# server, and checks that every command followed by a "# {...}" line prints
# exactly that (a token's value shown as "…"). Commands without one must
# succeed and print something.
# Usage: readme_test.sh PATH/TO/ticketq-server. Every wait is bounded;
# nothing started is left running.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SERVER_BIN="${1:?usage: readme_test.sh PATH/TO/ticketq-server}"
command -v curl >/dev/null || { echo "readme_test: needs curl (scripts/setup.sh installs it)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ticketq-readme-XXXXXX")"
run_pid=""
cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -INT -- "-$run_pid" 2>/dev/null || true  # as Ctrl-C would
    for _ in $(seq 600); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL -- "-$run_pid" 2>/dev/null || true
  fi
  # run.sh starts its Redis in a session of its own, out of the group's
  # reach: should run.sh not have stopped it, stop it here.
  local redis_pid
  redis_pid="$(sed -n 's/.*private redis-server (pid \([0-9]*\)).*/\1/p' "$WORK/run.log" 2>/dev/null | head -1)"
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The block, and the README's own start command for it.
awk '/<!-- walkthrough -->/ {on = 1; next} on && /^```sh/ {inside = 1; next}
     inside && /^```/ {exit} inside {print}' "$ROOT/README.md" >"$WORK/walkthrough.sh"
[ -s "$WORK/walkthrough.sh" ] || { echo "FAIL: no walk-through block in README.md" >&2; exit 1; }

env -u REDIS_URL -u TICKETQ_ADMIN_TOKEN -u TICKETQ_CONFIG \
  TICKETQ_SERVER_BIN="$SERVER_BIN" TICKETQ_VAR_DIR="$WORK/var" \
  setsid bash "$ROOT/scripts/run.sh" --port 0 >"$WORK/run.log" 2>&1 </dev/null &
run_pid=$!
port=""
for _ in $(seq 1200); do  # up to 60 s
  port="$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/run.log" | head -1)"
  [ -n "$port" ] && curl -sf "127.0.0.1:$port/ready" >/dev/null && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$port" ] || ! curl -sf "127.0.0.1:$port/ready" >/dev/null; then
  echo "FAIL: scripts/run.sh did not start ticketq; its output:" >&2
  cat "$WORK/run.log" >&2
  exit 1
fi

# Run it line by line in this directory's place: var/ is the test's var dir,
# localhost:8000 is the test's server.
cd "$WORK"
failures=0 checked=0 ran=0 last="" last_cmd=""
while IFS= read -r line; do
  case "$line" in
    TOKEN=*) eval "$line" ;;
    curl\ *)
      last_cmd="${line%%#*}"
      last="$(eval "${last_cmd//localhost:8000/127.0.0.1:$port} --max-time 10")" || {
        echo "FAIL: $last_cmd: curl failed" >&2
        failures=$((failures + 1))
      }
      ran=$((ran + 1))
      # A user token is new every time: the README shows it as "…".
      last="$(printf '%s' "$last" | sed -E 's/"token":"[A-Za-z0-9_.-]+"/"token":"…"/g')"
      [ -n "$last" ] || { echo "FAIL: $last_cmd printed nothing" >&2; failures=$((failures + 1)); }
      ;;
    "# {"*)
      want="${line#\# }"
      checked=$((checked + 1))
      if [ "$last" != "$want" ]; then
        echo "FAIL: $last_cmd" >&2
        echo "  README says: $want" >&2
        echo "  server said: $last" >&2
        failures=$((failures + 1))
      fi
      last="(already compared)"
      ;;
  esac
done <"$WORK/walkthrough.sh"

echo "readme_test: $ran commands run, $checked answers compared, $failures failures"
[ "$checked" -ge 10 ] || { echo "FAIL: only $checked answers compared" >&2; exit 1; }
[ "$failures" -eq 0 ]
