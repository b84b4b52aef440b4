#!/usr/bin/env bash
# Configures and builds ticketq into ./build (or $BUILD_DIR).
# Extra arguments are passed to the CMake configure step; $TARGET limits the
# build to one target (default: everything).
#
# A first build takes several minutes on 2 cores (ticketq-server alone took
# 6 minutes in one run, nearly 10 with the cores shared with other builds),
# much of it in single files that compile for a minute or more. So
# besides cmake --build's own lines ("[ 42%] Building CXX object ..."), a
# line every $TICKETQ_BUILD_PROGRESS_S seconds (default 30) says how far it is
# while nothing else is printed, and the last line says how long it took.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
EVERY="${TICKETQ_BUILD_PROGRESS_S:-30}"
[[ $EVERY =~ ^[1-9][0-9]*$ ]] || EVERY=30  # read -t needs a whole number of seconds > 0
started=$SECONDS

# Copies the build's output and prints "build: 42% after 90 s (...)" when
# nothing came for $EVERY seconds. The percentage is that of the last step
# started: Make's "[ 42%]" or Ninja's "[12/40]".
progress() {
  local line="" held="" pct="" step="configuring" n total
  while :; do
    if IFS= read -r -t "$EVERY" line; then
      line="$held$line" held=""
      printf '%s\n' "$line"
      if [[ $line =~ ^\[\ *([0-9]+)%\]\ (.*)$ ]]; then
        pct="${BASH_REMATCH[1]}" step="${BASH_REMATCH[2]}"
      elif [[ $line =~ ^\[([0-9]+)/([0-9]+)\]\ (.*)$ ]]; then
        n="${BASH_REMATCH[1]}" total="${BASH_REMATCH[2]}" step="${BASH_REMATCH[3]}"
        pct=$((n * 100 / total))
      fi
    elif [ $? -gt 128 ]; then  # timed out; a part of a line read so far is kept
      held="$held$line"
      [[ $step =~ ^Building\ [A-Z+]+\ object\ .*/([^/]+)\.o$ ]] && step="compiling ${BASH_REMATCH[1]}"
      echo "build: ${pct:-0}% after $((SECONDS - started)) s (still running: $step)" >&2
    else  # end of the output
      [ -z "$held$line" ] || printf '%s\n' "$held$line"
      return 0
    fi
  done
}

echo "build: configuring $BUILD_DIR" >&2
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
echo "build: building ${TARGET:-everything} with $(nproc) jobs" >&2
cmake --build "$BUILD_DIR" -j "$(nproc)" ${TARGET:+--target "$TARGET"} | progress
echo "build: done in $((SECONDS - started)) s" >&2
