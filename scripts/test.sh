#!/usr/bin/env bash
# One command to set up and run every test: installs what is missing, builds,
# and runs the unit and integration suites (real redis-server and ticketq
# processes on loopback). Exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/setup.sh"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}" "$ROOT/scripts/build.sh"

cd "${BUILD_DIR:-$ROOT/build}"
ctest --output-on-failure -j "$(nproc)" --timeout 300
