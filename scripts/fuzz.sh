#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) with clang into ./build-fuzz (or
# $FUZZ_BUILD_DIR) and runs each for SECONDS (default 20) on a copy of its
# seed corpus in a temporary directory, so the repository is never modified.
#
#   scripts/fuzz.sh [SECONDS_PER_HARNESS]
#   FUZZ_HARNESSES="fuzz_route fuzz_redis_url" scripts/fuzz.sh 60
#
# Exits non-zero if any harness finds a crash, a leak, a sanitizer report, a
# timeout (-timeout=5 s per input) or runs out of memory (-rss_limit_mb=2048);
# the input that did it is printed and kept in $FUZZ_BUILD_DIR/findings/.
# Installs clang and libFuzzer (libclang-rt) with apt when they are missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_PER_HARNESS="${1:-20}"
BUILD_DIR="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
ALL_HARNESSES="fuzz_reserve_body fuzz_event_body fuzz_route fuzz_redis_url fuzz_config fuzz_token
  fuzz_http_parser fuzz_http_server"
HARNESSES="${FUZZ_HARNESSES:-$ALL_HARNESSES}"
case "$SECONDS_PER_HARNESS" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_HARNESS]" >&2; exit 2 ;;
esac

"$ROOT/scripts/setup.sh" clang libclang-rt-dev

echo "fuzz: building harnesses in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTICKETQ_FUZZ=ON -DTICKETQ_BUILD_TESTS=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$(nproc)" --target $HARNESSES

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ticketq-fuzz-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
FINDINGS="$BUILD_DIR/findings"

failed=()
for h in $HARNESSES; do
  bin="$BUILD_DIR/fuzz/$h"
  [ -x "$bin" ] || { echo "fuzz: no harness $bin" >&2; exit 2; }
  mkdir -p "$WORK/$h/corpus" "$WORK/$h/artifacts"
  if [ -d "$ROOT/fuzz/corpus/$h" ]; then cp -R "$ROOT/fuzz/corpus/$h/." "$WORK/$h/corpus/"; fi
  seeds=$(find "$WORK/$h/corpus" -type f | wc -l)
  args=(-max_total_time="$SECONDS_PER_HARNESS" -timeout=5 -rss_limit_mb=2048 -max_len=4096
        -print_final_stats=1 -artifact_prefix="$WORK/$h/artifacts/")
  [ -f "$ROOT/fuzz/$h.dict" ] && args+=(-dict="$ROOT/fuzz/$h.dict")
  echo "fuzz: $h for ${SECONDS_PER_HARNESS}s from $seeds seeds"
  rc=0
  # The outer timeout only guards against a fuzzer that ignores its own limit.
  timeout --signal=KILL $((SECONDS_PER_HARNESS * 2 + 120)) \
    "$bin" "${args[@]}" "$WORK/$h/corpus" >"$WORK/$h/log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$h/log" | tail -1)
  grown=$(( $(find "$WORK/$h/corpus" -type f | wc -l) - seeds ))
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $h ok (${execs:-?} runs, $grown new corpus inputs)"
    continue
  fi
  failed+=("$h")
  echo "fuzz: $h FAILED (exit $rc); end of its log:" >&2
  tail -n 60 "$WORK/$h/log" >&2
  mkdir -p "$FINDINGS/$h"
  for f in "$WORK/$h/artifacts"/*; do
    [ -f "$f" ] || continue
    cp "$f" "$FINDINGS/$h/"
    echo "fuzz: input that failed: $FINDINGS/$h/$(basename "$f") ($(wc -c <"$f") bytes):" >&2
    od -An -c "$f" | head -n 20 >&2
    echo "fuzz: reproduce with: $bin $FINDINGS/$h/$(basename "$f")" >&2
  done
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all harnesses ok"
