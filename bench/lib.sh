# Shell helpers of bench/run.sh and bench/streams.sh (sourced): finding the
# binaries, checking tools, free ports, progress lines, and stopping every
# process a script started. Uses the caller's BUILD and T0.

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
