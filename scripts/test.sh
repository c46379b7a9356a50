#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test
# with CTest. The PostgreSQL tests start their own throwaway server on
# loopback (tests/support/pg_server.cpp); nothing else is needed.
#
#   scripts/test.sh            all tests
#   scripts/test.sh -R media   only tests whose name matches
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

ccrec_install_packages
ccrec_build
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 -j "${CCREC_TEST_JOBS:-2}" "$@"
