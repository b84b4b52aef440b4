# shellcheck shell=bash
# Helpers of the container smoke tests (smoke.sh, smoke_ha.sh), for bash.
# Sourced, not run. The caller sets:
#   LOG_TAG   the word in front of every line ("smoke", "smoke-ha")
#   STARTED   $SECONDS at its start
#   PROJECT   the compose project whose containers ctr() finds
#   BASE      http://127.0.0.1:PORT of nginx, for curl_json()
#   TOKEN     the admin token curl_json() sends
# All of them are read when a helper runs, so they may change in between.

log() { printf '[%s %3ds] %s\n' "$LOG_TAG" "$((SECONDS - STARTED))" "$*"; }
fail() { printf '[%s %3ds] FAIL: %s\n' "$LOG_TAG" "$((SECONDS - STARTED))" "$*" >&2; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# pick_port: sets PORT to SMOKE_PORT (which must be free) or to the first
# free port from 18080.
pick_port() {
  if [ -n "${SMOKE_PORT:-}" ]; then
    PORT=$SMOKE_PORT
    ! port_in_use "$PORT" || fail "SMOKE_PORT $PORT is in use"
  else
    PORT=18080
    while port_in_use "$PORT"; do
      PORT=$((PORT + 1))
      [ "$PORT" -lt 18180 ] || fail "no free port in 18080-18179"
    done
  fi
}

ctr() {  # the container id of a service of this project
  podman ps -q --filter "label=io.podman.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" | head -n1
}

# podman runs healthchecks from systemd timers; without systemd they never
# run by themselves, so run them here (also fine where they do).
wait_healthy() {  # wait_healthy SERVICE SECONDS
  local s=$1 deadline=$((SECONDS + $2)) id
  while [ "$SECONDS" -lt "$deadline" ]; do
    id=$(ctr "$s")
    if [ -n "$id" ] && podman healthcheck run "$id" >/dev/null 2>&1; then
      log "$s healthy"
      return 0
    fi
    sleep 1
  done
  fail "$s not healthy after $2 s"
}

# curl_json METHOD PATH [BODY] -> prints "CODE BODY"; admin token always sent.
curl_json() {
  local out
  out=$(curl -sS --max-time 5 -o - -w ' %{http_code}' -X "$1" "$BASE$2" \
    -H "X-Token: $TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"}) || fail "curl $1 $2"
  local body=${out% *}
  echo "${out##* } ${body%$'\n'}"
}
expect() {  # expect WHAT "CODE BODY" CODE-PATTERN SUBSTRING
  case "$2" in
    $3" "*"$4"*) log "ok  $1: $2" ;;
    *) fail "$1: got '$2', want $3 with $4" ;;
  esac
}

metric_sum() {  # metric_sum REGEX < metrics text: sum of the matching samples
  awk -v re="$1" '$0 ~ re { s += $NF } END { printf "%d\n", s }'
}
