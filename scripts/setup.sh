#!/usr/bin/env bash
# Installs what ticketq needs to build, run and test, from Debian 12 packages,
# plus any packages named as arguments (scripts/fuzz.sh adds clang).
# Idempotent: installs only what is missing. Needs root or sudo for apt-get.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ca-certificates curl
  libevent-dev libhiredis-dev nlohmann-json3-dev libspdlog-dev
  libcli11-dev libtomlplusplus-dev libssl-dev prometheus-cpp-dev
  libgtest-dev redis-server
  # llhttp's C sources and header, built by CMakeLists.txt (no nodejs needed)
  node-llhttp
  # the token key of scripts/run.sh, and the tests that check tokens with
  # independent implementations (run by /usr/bin/python3)
  openssl python3 python3-cryptography python3-jwt
  # the test of every route's replies against docs/openapi.yaml
  python3-yaml python3-jsonschema
  # the interoperability test: other HTTP clients against the server
  wrk nghttp2-client
  "$@"
)
# The browser test of the waiting room and the dashboard (tests/browser):
# wanted, but where they cannot be installed that test skips (it says so).
BROWSER_PACKAGES=(chromium chromium-driver python3-selenium)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=() browser_missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${BROWSER_PACKAGES[@]}"; do installed "$p" || browser_missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && [ ${#browser_missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    [ ${#missing[@]} -eq 0 ] && { echo "setup: cannot install ${browser_missing[*]} (no root, no sudo): the browser test will skip" >&2; exit 0; }
    echo "setup: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (apt-get, quietly: this can take minutes)" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#browser_missing[@]} -gt 0 ]; then
  echo "setup: installing ${browser_missing[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${browser_missing[@]}" >/dev/null ||
    echo "setup: could not install ${browser_missing[*]}: the browser test will skip" >&2
fi
