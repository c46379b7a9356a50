#!/usr/bin/env bash
# Installs the Debian 12 packages ccrec needs (only those missing), then
# configures and builds. Sourced by demo.sh and test.sh; safe to re-run.
#
#   BUILD_DIR   where to build (default: build)
#   BUILD_TYPE  CMake build type (default: RelWithDebInfo)
set -euo pipefail

CCREC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$CCREC_ROOT/build}"
BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"

CCREC_PACKAGES=(
  g++ cmake ninja-build pkg-config git python3
  libcaf-dev libsodium-dev libzmq3-dev cppzmq-dev
  libsoci-dev libsoci-sqlite3-4.0 libsoci-postgresql4.0 libboost-dev libpq-dev libsqlite3-dev
  catch2 libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libsndfile1-dev postgresql
)

ccrec_install_packages() {
  local missing=()
  for p in "${CCREC_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  echo "ccrec: installing missing packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ccrec_build() {
  cmake -S "$CCREC_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
  # Two jobs: a CAF translation unit takes up to ~600 MB and these machines have 2 cores.
  cmake --build "$BUILD_DIR" -j "${CCREC_JOBS:-2}" "$@"
}
