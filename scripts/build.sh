#!/usr/bin/env bash
# Configures and builds ticketq into ./build (or $BUILD_DIR).
# Extra arguments are passed to the CMake configure step; $TARGET limits the
# build to one target (default: everything).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" ${TARGET:+--target "$TARGET"}
