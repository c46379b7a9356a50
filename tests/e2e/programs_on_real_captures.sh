#!/usr/bin/env bash
# The programs as a user runs them, on the real captures, in a temp dir:
# every file is CCENX and verifies; each WAV channel equals what was sent;
# no sent payload and no key material lies in the clear under the data dir
# or in the engine's log.
#   programs_on_real_captures.sh CCREC PBXSIM TESTDATA
set -euo pipefail
CCREC=$1 PBXSIM=$2 TESTDATA=$3
WORK=$(mktemp -d /tmp/ccrec-e2e-XXXXXX)
ENGINE_PID=""
cleanup() { [ -n "$ENGINE_PID" ] && kill -TERM "$ENGINE_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

export CCREC_KEK_SECRET="e2e-test-secret-$$"
CAPTURES=("$TESTDATA"/pcap/call1_pcmu.pcap "$TESTDATA"/pcap/call1_pcma.pcap
          "$TESTDATA"/pcap/sipp_g711a.pcap)
PORT_BASE=$(( 30000 + ($$ % 200) * 100 ))
cat >"$WORK/engine.toml" <<TOML
[engine]
kdf_profile = "test"
media_ports = "$PORT_BASE-$((PORT_BASE + 99))"
TOML

"$CCREC" serve --config "$WORK/engine.toml" --data-dir "$WORK/data" --cti "tcp://127.0.0.1:*" \
  --ready-file "$WORK/ready" --log-level debug >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
CTI=$(cat "$WORK/ready")

"$PBXSIM" replay --cti "$CTI" --speed 8 --manifest "$WORK/manifest.json" "${CAPTURES[@]}"
kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID"; ENGINE_PID=""

mapfile -t FILES < <(find "$WORK/data/recordings" -type f | sort)
[ "${#FILES[@]}" -eq 3 ] || { echo "expected 3 recording files, found ${#FILES[@]}"; exit 1; }
for f in "${FILES[@]}"; do
  [ "$(head -c 5 "$f")" = "CCENX" ] || { echo "not CCENX: $f"; exit 1; }
done
"$CCREC" verify --config "$WORK/engine.toml" --data-dir "$WORK/data" "${FILES[@]}"

mkdir "$WORK/wav"
IDS=$("$CCREC" recordings --config "$WORK/engine.toml" --data-dir "$WORK/data" --json |
      python3 -c 'import json,sys; r=json.load(sys.stdin); assert len(r)==3 and all(x["status"]=="complete" for x in r), r; print(" ".join(x["id"] for x in r))')
for id in $IDS; do
  "$CCREC" play --config "$WORK/engine.toml" --data-dir "$WORK/data" "$id" -o "$WORK/wav/$id.wav"
done
"$PBXSIM" check --manifest "$WORK/manifest.json" --wav-dir "$WORK/wav" --scan-dir "$WORK/data" \
  "${CAPTURES[@]}"

# The secret must not be in the log or anywhere under the data dir.
if grep -rqa -- "$CCREC_KEK_SECRET" "$WORK/data" "$WORK/engine.log"; then
  echo "the key-encrypting secret appears in the data dir or the log"; exit 1
fi
echo "programs on real captures: 3 recordings, all verified, audio equal, nothing in the clear"
