#!/usr/bin/env bash
# The rooms of src/ (ARCHITECTURE.md) hold: cmake/layers.cmake passes the
# tree as it is, and refuses each include across the rooms the wrong way
# in a copy of it, naming the file; and a build of such a copy stops at the
# check, before anything compiles.
# Usage: rooms_test.sh RULES_FILE (the build's generated/rooms_rules.cmake).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RULES="${1:?usage: rooms_test.sh PATH/TO/rooms_rules.cmake}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ticketq-rooms-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
failed=0

check() {  # check SRC_DIR: runs the check, its output in $WORK/out
  cmake -DSRC="$1" -DRULES="$RULES" -P "$ROOT/cmake/layers.cmake" >"$WORK/out" 2>&1
}

if check "$ROOT/src"; then
  echo "ok: src/ as it is"
else
  echo "FAIL: src/ as it is:"; cat "$WORK/out"; failed=1
fi

# refused FILE LINE WHY: a copy of src/ with LINE added to FILE must fail the
# check, naming FILE.
refused() {
  local file="$1" line="$2" why="$3"
  rm -rf "$WORK/src" && cp -r "$ROOT/src" "$WORK/src"
  mkdir -p "$(dirname "$WORK/src/$file")"
  printf '%s\n' "$line" >>"$WORK/src/$file"
  if check "$WORK/src"; then
    echo "FAIL: $why: not refused"; failed=1
  elif ! grep -qF "src/$file" "$WORK/out"; then
    echo "FAIL: $why: refused without naming src/$file:"; cat "$WORK/out"; failed=1
  else
    echo "ok: refused $why"
  fi
}
refused base/validate.cpp '#include "core/queue_core.h"' "the base including the core"
refused transport/http_server.cpp '#include "frontend/router.h"' "the transport including a route"
refused core/queue_core.cpp '#include "redis/redis_gateway.h"' "the core including the gateway"
refused core/pace.h '#include "transport/http_server.h"' "the core including HTTP"
refused redis/redis_url.cpp '#include "core/scripts.h"' "the gateway including the queue's scripts"
refused frontend/api_users.cpp '#include "redis/redis_gateway.h"' "a handler including hiredis's gateway"
refused pages/visitor.cpp '#include "frontend/api.h"' "the pages including a handler"
refused tokens/tokens.cpp '#include "config/config.h"' "the tokens including the settings"
refused transport/listener.cpp '#include "listener.h"' "an include without its room"
refused stray.cpp '// a unit outside the rooms' "a file outside the rooms"

# A build of a copy with one wrong include stops at the check.
mkdir -p "$WORK/tree"
cp -r "$ROOT/CMakeLists.txt" "$ROOT/cmake" "$ROOT/src" "$ROOT/web" "$ROOT/bench" "$WORK/tree/"
mkdir -p "$WORK/tree/docs" && cp "$ROOT/docs/openapi.yaml" "$WORK/tree/docs/"
printf '#include "server/server.h"\n' >>"$WORK/tree/src/core/history.cpp"
if ! cmake -S "$WORK/tree" -B "$WORK/build" -DTICKETQ_BUILD_TESTS=OFF >"$WORK/configure.log" 2>&1; then
  echo "FAIL: the copy does not configure:"; tail -20 "$WORK/configure.log"; failed=1
elif cmake --build "$WORK/build" --target tq_core >"$WORK/build.log" 2>&1; then
  echo "FAIL: a build with the core including the server went through"; failed=1
elif ! grep -q "src/core/history.cpp: includes server/server.h" "$WORK/build.log"; then
  echo "FAIL: the build failed, but not at the check:"; tail -20 "$WORK/build.log"; failed=1
elif [ -n "$(find "$WORK/build" -name '*.o' -print -quit)" ]; then
  echo "FAIL: something compiled before the check stopped the build"; failed=1
else
  echo "ok: a build with the core including the server stops at the check, nothing compiled"
fi
exit $failed
