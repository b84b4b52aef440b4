#!/usr/bin/env bash
# One command to set up and run every test: installs what is missing, builds,
# and runs the unit and integration suites (real redis-server and ticketq
# processes on loopback). Exits non-zero on any failure.
#
# Then, unless turned off, two more phases:
#   - the same suites built with ASan+UBSan in ./build-asan (Debug); any
#     sanitizer report fails them (TICKETQ_TEST_SANITIZE=0 skips this); the
#     browser test runs once, in the first phase;
#   - scripts/fuzz.sh, every libFuzzer harness for $TICKETQ_FUZZ_SECONDS
#     (default 15) seconds (TICKETQ_TEST_FUZZ=0 skips this).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
ASAN_BUILD_DIR="${ASAN_BUILD_DIR:-$ROOT/build-asan}"
STARTED=$SECONDS
phase() { echo "==== test.sh: $* [$((SECONDS - STARTED))s]"; }

phase "setup"
"$ROOT/scripts/setup.sh"
phase "build $BUILD_DIR"
BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/build.sh"
phase "tests in $BUILD_DIR"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$(nproc)" --timeout 300)

if [ "${TICKETQ_TEST_SANITIZE:-1}" != 0 ]; then
  phase "build $ASAN_BUILD_DIR (ASan+UBSan, Debug)"
  BUILD_DIR="$ASAN_BUILD_DIR" BUILD_TYPE=Debug "$ROOT/scripts/build.sh" -DTICKETQ_SANITIZE=ON
  phase "tests in $ASAN_BUILD_DIR (ASan+UBSan)"
  # Inherited by the ticketq-server and redis processes the tests start.
  # UBSan findings abort anyway (-fno-sanitize-recover=all); these add stacks,
  # use-after-return and init-order checks, and keep leak checking on.
  (cd "$ASAN_BUILD_DIR" &&
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    ctest --output-on-failure -j "$(nproc)" --timeout 600 --label-exclude browser)
else
  phase "sanitizer build and tests skipped (TICKETQ_TEST_SANITIZE=0)"
fi

if [ "${TICKETQ_TEST_FUZZ:-1}" != 0 ]; then
  phase "fuzz, ${TICKETQ_FUZZ_SECONDS:-15}s per harness"
  "$ROOT/scripts/fuzz.sh" "${TICKETQ_FUZZ_SECONDS:-15}"
else
  phase "fuzzing skipped (TICKETQ_TEST_FUZZ=0)"
fi
phase "all passed"
