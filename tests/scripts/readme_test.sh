#!/usr/bin/env bash
# Runs the README's curl walk-through (the sh block after the
# "<!-- walkthrough -->" marker) against scripts/run.sh with this build's
# server, and checks that every command followed by a "# {...}" line prints
# exactly that (a token's value shown as "…"). Commands without one must
# succeed and print something. Then the event stream example (the blocks
# after "<!-- stream -->"), whose stream must send the events it shows.
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

# The event stream example (the two sh blocks after "<!-- stream -->"),
# run after the walk-through, in its terms.
awk '/<!-- stream -->/ {on = 1; next} on && /^```sh/ {inside = 1; next}
     inside && /^```/ {inside = 0; if (++blocks == 2) exit; next} inside {print}' \
  "$ROOT/README.md" >"$WORK/stream.sh"
[ -s "$WORK/stream.sh" ] || { echo "FAIL: no stream example in README.md" >&2; exit 1; }

# Run them line by line in this directory's place: var/ is the test's var
# dir, localhost:8000 is the test's server. A "curl -N" (a stream) runs in
# the background for a few seconds; the "# event:" and "# data:" lines after
# it are what it must have sent, in that order.
cd "$WORK"
failures=0 checked=0 ran=0 last="" last_cmd="" stream_pid=""
: >"$WORK/stream.want"
run_lines() {
  while IFS= read -r line; do
    case "$line" in
      TOKEN=*) eval "$line" ;;
      curl\ -N\ *)
        last_cmd="${line%%#*}"
        eval "${last_cmd//localhost:8000/127.0.0.1:$port} -s --max-time 60" >"$WORK/stream.out" &
        stream_pid=$!
        for _ in $(seq 100); do grep -q '^event:' "$WORK/stream.out" && break; sleep 0.05; done
        ran=$((ran + 1))
        last="(a stream)"
        ;;
      "# event: "* | "# data: "*) printf '%s\n' "${line#\# }" >>"$WORK/stream.want" ;;
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
  done <"$1"
}
run_lines "$WORK/walkthrough.sh"
run_lines "$WORK/stream.sh"
[ -n "$stream_pid" ] || { echo "FAIL: the stream example opens no stream" >&2; failures=$((failures + 1)); }
# The stream stays open: it has sent what it will once it has sent as many
# events as the README shows (waited for, up to 30 s), then it is closed.
events_wanted="$(grep -c '^event: ' "$WORK/stream.want" || true)"
for _ in $(seq 600); do
  [ "$(grep -c '^event: ' "$WORK/stream.out" || true)" -ge "$events_wanted" ] && break
  sleep 0.05
done
kill "$stream_pid" 2>/dev/null || true
wait "$stream_pid" 2>/dev/null || true
# An admission token is new every time: the README shows it as "…".
got="$(grep -E '^(event|data): ' "$WORK/stream.out" |
  sed -E 's/"admission_token":"[A-Za-z0-9_.-]+"/"admission_token":"…"/g')"
want="$(cat "$WORK/stream.want")"
checked=$((checked + 1))
if [ -z "$want" ] || [ "$got" != "$want" ]; then
  echo "FAIL: the stream example" >&2
  echo "  README says:" >&2; printf '%s\n' "$want" | sed 's/^/    /' >&2
  echo "  server sent:" >&2; printf '%s\n' "$got" | sed 's/^/    /' >&2
  failures=$((failures + 1))
fi

echo "readme_test: $ran commands run, $checked answers compared, $failures failures"
[ "$checked" -ge 10 ] || { echo "FAIL: only $checked answers compared" >&2; exit 1; }
[ "$failures" -eq 0 ]
