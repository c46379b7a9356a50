#!/usr/bin/env bash
# The demo: the engine on its embedded default database (SQLite) against the
# PBX simulator replaying the three real captures in ../shared/testdata.
# Then it lists the recordings, verifies every file, writes one WAV per
# call, and checks that the audio equals the captured G.711 payloads sample
# for sample and that no plaintext audio is anywhere under the data dir.
#
#   DEMO_DIR    where recordings and the database go (default: demo-data)
#   DEMO_SPEED  replay speed, 1 = the captures' own pace (default: 1)
#   DEMO_CTI    CTI endpoint (default: tcp://127.0.0.1:5570)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

ccrec_install_packages
ccrec_build --target ccrec ccrec-pbxsim

DEMO_DIR="${DEMO_DIR:-$CCREC_ROOT/demo-data}"
DEMO_SPEED="${DEMO_SPEED:-1}"
DEMO_CTI="${DEMO_CTI:-tcp://127.0.0.1:5570}"
TESTDATA="${CCREC_TESTDATA:-$CCREC_ROOT/../shared/testdata}"
CCREC="$BUILD_DIR/apps/ccrec"
PBXSIM="$BUILD_DIR/simulators/ccrec-pbxsim"
CAPTURES=("$TESTDATA"/pcap/call1_pcmu.pcap "$TESTDATA"/pcap/call1_pcma.pcap
          "$TESTDATA"/pcap/sipp_g711a.pcap)

# FOR THE DEMO ONLY: a throwaway key-encrypting secret. In production it
# comes from the operator (environment or --kek-secret-fd), and losing it
# means losing every recording.
export CCREC_KEK_SECRET="${CCREC_KEK_SECRET:-demo-only-secret-not-for-production}"
echo "== demo: using a throwaway key-encrypting secret (demo only)"

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/wav"
DATA="$DEMO_DIR/data"

echo "== starting the engine (data dir $DATA, CTI $DEMO_CTI)"
"$CCREC" serve --config "$CCREC_ROOT/scripts/demo.toml" --data-dir "$DATA" --cti "$DEMO_CTI" --ready-file "$DEMO_DIR/ready" \
  >"$DEMO_DIR/engine.log" 2>&1 &
ENGINE_PID=$!
trap 'kill -TERM $ENGINE_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -s "$DEMO_DIR/ready" ] && break
  kill -0 $ENGINE_PID 2>/dev/null || { cat "$DEMO_DIR/engine.log"; exit 1; }
  sleep 0.1
done
[ -s "$DEMO_DIR/ready" ] || { echo "engine did not become ready"; cat "$DEMO_DIR/engine.log"; exit 1; }

echo "== replaying ${#CAPTURES[@]} captures through the PBX simulator (speed $DEMO_SPEED)"
"$PBXSIM" replay --cti "$DEMO_CTI" --speed "$DEMO_SPEED" --manifest "$DEMO_DIR/manifest.json" \
  "${CAPTURES[@]}"

echo "== stopping the engine"
kill -TERM $ENGINE_PID
wait $ENGINE_PID || true
trap - EXIT

echo "== recordings"
"$CCREC" recordings --data-dir "$DATA"

echo "== every file under the recordings directory starts with CCENX and verifies"
mapfile -t FILES < <(find "$DATA/recordings" -type f | sort)
for f in "${FILES[@]}"; do
  [ "$(head -c 5 "$f")" = "CCENX" ] || { echo "NOT ENCRYPTED: $f"; exit 1; }
done
"$CCREC" verify --data-dir "$DATA" "${FILES[@]}"

echo "== one WAV per call"
for id in $("$CCREC" recordings --data-dir "$DATA" --json |
            python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin) if r["kind"]=="audio"))'); do
  "$CCREC" play --data-dir "$DATA" "$id" -o "$DEMO_DIR/wav/$id.wav"
done

echo "== the audio equals the captured payloads; no plaintext audio under the data dir"
"$PBXSIM" check --manifest "$DEMO_DIR/manifest.json" --wav-dir "$DEMO_DIR/wav" \
  --scan-dir "$DATA" "${CAPTURES[@]}"

echo "== demo finished: WAVs in $DEMO_DIR/wav, engine log in $DEMO_DIR/engine.log"
