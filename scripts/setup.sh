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
  # the interoperability test: other HTTP clients against the server
  wrk nghttp2-client
  # the browser test of the waiting room and the dashboard (tests/browser)
  chromium chromium-driver python3-selenium
  "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
