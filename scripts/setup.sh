#!/usr/bin/env bash
# Installs what libckpt needs on Debian 12 (idempotent: only missing packages
# are installed) and builds it into ./build. Needs root or sudo for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config binutils meson ninja-build python3   # toolchain
  libzstd-dev nlohmann-json3-dev libsigsegv-dev doctest-dev        # libraries
  sqlite3 procps libcap2-bin                                       # used by the tests (setcap: launch_refusals)
  redis-server redis-tools                                         # used by the tests (redis_server)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build
