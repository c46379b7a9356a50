#!/usr/bin/env bash
# Load-tests a fresh engine: starts `ccrec serve` on a throwaway data
# directory, runs `ccrec-pbxsim load` against it (with the engine's pid and
# data dir, so CPU, memory, bytes written and recorded packets are
# measured), then stops the engine and keeps the figures.
#
#   bench/load_test.sh --calls 2000 --duration 120 [more ccrec-pbxsim load options]
#
# Environment: BUILD_DIR (default build), OUT (default load-results: gets
# result.json, timeline.svg, engine.log), ENCRYPTION (on|off, default on),
# CTI_PORT (default 5590), MEDIA_PORTS (default 40000-44999).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$here/build}"
out="${OUT:-load-results}"
encryption="${ENCRYPTION:-on}"
cti="tcp://127.0.0.1:${CTI_PORT:-5590}"
ports="${MEDIA_PORTS:-40000-44999}"

mkdir -p "$out"
data="$(mktemp -d "${TMPDIR:-/tmp}/ccrec-load.XXXXXX")"
trap 'rm -rf "$data"' EXIT

# A load-test engine: the cheapest key-derivation cost (the database is
# thrown away) and, if asked, encryption off.
{
  echo "[engine]"
  echo 'kdf_profile = "test"'
  [ "$encryption" = off ] && echo "encryption = false"
} > "$data/engine.toml"

export CCREC_KEK_SECRET="load-test-only-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$build/apps/ccrec" serve --config "$data/engine.toml" --data-dir "$data/engine" --cti "$cti" \
  --media-ports "$ports" --log-level warn --ready-file "$data/ready" > "$out/engine.log" 2>&1 &
engine=$!
unset CCREC_KEK_SECRET

for _ in $(seq 100); do
  [ -s "$data/ready" ] && break
  kill -0 "$engine" 2>/dev/null || { echo "the engine did not start:"; cat "$out/engine.log"; exit 1; }
  sleep 0.1
done

status=0
"$build/simulators/ccrec-pbxsim" load --cti "$cti" --engine-pid "$engine" \
  --data-dir "$data/engine" --result "$out/result.json" --plot "$out/timeline.svg" "$@" || status=$?

kill -INT "$engine"
wait "$engine" || true
echo "figures: $out/result.json, picture: $out/timeline.svg, engine log: $out/engine.log"
exit "$status"
