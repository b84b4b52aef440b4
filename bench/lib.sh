# Shell helpers of bench/run.sh, bench/streams.sh and bench/shards.sh
# (sourced): finding the binaries, checking tools, the sources a server was
# built from, free ports, progress lines, and stopping every process a
# script started. Uses the caller's BUILD, T0, PIDS, CUR, DIR and KEEP.

# find_bin NAME: the executable NAME under $BUILD, or nothing (also when
# $BUILD does not exist: under pipefail that must not end the script).
find_bin() { find "$BUILD" -name "$1" -type f -perm -u+x 2>/dev/null | head -1 || true; }

# need_tools SCRIPT TOOL...: exits 2 naming the first TOOL not on PATH.
need_tools() {
  local script=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$script: $tool not found" >&2; exit 2; }
  done
}

# build_hint SCRIPT WHAT: how to build WHAT in $BUILD; exits 2.
build_hint() {
  echo "$1: build $2 in $BUILD first:" >&2
  echo "  cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release -DTICKETQ_BUILD_TESTS=OFF && cmake --build $BUILD -j2" >&2
  exit 2
}

# source_of SCRIPT SERVER: sets SRC_DIR (the sources SERVER was built from)
# and SRC_REV (their commit, "+dirty-src" with uncommitted changes to src/,
# and a warning when those changed since the build).
source_of() {
  SRC_DIR=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$(dirname "$2")/CMakeCache.txt" 2>/dev/null || true)
  SRC_REV=$(git -C "${SRC_DIR:-/nonexistent}" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
  if [[ "$SRC_REV" != "not a git checkout" ]]; then
    git -C "$SRC_DIR" diff --quiet HEAD -- src 2>/dev/null || SRC_REV+="+dirty-src"
  fi
  if [[ -n "$SRC_DIR" && -n "$(find "$SRC_DIR/src" -newer "$2" -print -quit 2>/dev/null)" ]]; then
    SRC_REV+=", but sources changed since the build"
    echo "$1: warning: files in $SRC_DIR/src are newer than $2: rebuild to measure them" >&2
  fi
}

# The EXIT trap of the scripts: stops PIDS and CUR (the run in progress),
# removes DIR unless KEEP is 1, and keeps the exit status.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "${CUR:-}" ]] && PIDS+=("$CUR")
  stop_pids "${PIDS[@]}"
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work dir kept: $DIR" >&2; else rm -rf "$DIR"; fi
  exit "$rc"
}

# A progress line on stderr, with the seconds since T0.
say() { printf '[%4ds] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# stop_pids PID...: SIGTERM, up to 5 s to exit, then SIGKILL; reaps them.
stop_pids() {
  local p alive
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
