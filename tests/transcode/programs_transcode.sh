#!/bin/bash
# The transcoding acceptance points through the programs, as an operator
# runs them (loopback only): a PBX integration configured for the plain-WAV
# method and plain XML, a real capture replayed, the plaintext reported with
# its age, `ccrec transcode`, the report empty, the compressed recording
# playing back exactly what the simulator sent, and `encrypt-existing` with
# --dry-run, a run and a rerun.
#
# usage: programs_transcode.sh CCREC PBXSIM TESTDATA_DIR
set -euo pipefail

ccrec=$1
pbxsim=$2
testdata=$3
capture=$testdata/pcap/call1_pcmu.pcap

work=$(mktemp -d)
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Ports from the pid, so that parallel test runs do not collide.
cti_port=$((30000 + ($$ % 500) * 10))
media_low=$((45000 + ($$ % 200) * 20))
cat > "$work/ccrec.toml" <<TOML
[engine]
data_dir = "$work/data"
kdf_profile = "test"
cti = "tcp://127.0.0.1:$cti_port"
media_ports = "$media_low-$((media_low + 19))"
metadata_xml = "plain"
transcode = false

[[pbx]]
name = "ccrec-pbxsim"
recording_method = "plain_wav"
TOML
export CCREC_KEK_SECRET=programs-transcode-secret
cfg=(--config "$work/ccrec.toml" --log-level warn)

"$ccrec" serve "${cfg[@]}" --ready-file "$work/ready" > "$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.1; done
[ -f "$work/ready" ] || fail "the engine did not start: $(cat "$work/serve.log")"
"$pbxsim" replay --cti "tcp://127.0.0.1:$cti_port" --speed 4 --log-level warn \
  --manifest "$work/manifest.json" "$capture"
kill -INT "$serve_pid"; wait "$serve_pid"; serve_pid=

# Visible in configuration (the start-up log) and in the report.
grep -q "encryption exception in force: pbx 'ccrec-pbxsim': recording_method plain_wav" \
  "$work/serve.log" || fail "the plain-WAV exception is not logged"
"$ccrec" report policies "${cfg[@]}" > "$work/policies.txt"
grep -q "pbx 'ccrec-pbxsim': recording_method plain_wav" "$work/policies.txt" \
  || fail "report policies does not show the exception"
grep -Eq "^  plain_wav +1$" "$work/policies.txt" || fail "report policies counts no plain_wav recording"

# Plaintext pending, with its age.
"$ccrec" report plaintext "${cfg[@]}" --json > "$work/plain.json"
python3 - "$work/plain.json" <<'PY' || fail "report plaintext: $(cat "$work/plain.json")"
import json, sys
r = json.load(open(sys.argv[1]))
items = r["plaintext"]
assert len(items) == 1, items
assert items[0]["state"] == "pending", items
assert items[0]["method"] == "plain_wav", items
assert items[0]["path"].startswith("plaintext-spool/"), items
assert 0 <= items[0]["age_seconds"] < 120, items
assert items[0]["bytes"] > 300000, items
PY
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plaintext"][0]["recording_id"])' "$work/plain.json")
ls "$work"/data/recordings/*/*/*/"$id.xml" > /dev/null || fail "no plain XML metadata file"
"$ccrec" play "${cfg[@]}" "$id" -o "$work/before.wav" > /dev/null

# The backlog, then nothing in the clear.
"$ccrec" transcode "${cfg[@]}" | tee "$work/transcode.txt"
grep -q "^1 transcoded, 0 failed$" "$work/transcode.txt" || fail "transcode did not convert it"
"$ccrec" report plaintext "${cfg[@]}" | tee "$work/after.txt"
grep -q "^0 plaintext files$" "$work/after.txt" || fail "plaintext remains after transcoding"
[ -z "$(find "$work/data/recordings/plaintext-spool" -type f)" ] || fail "the spool is not empty"

# The compressed file verifies and plays exactly what was sent.
mkdir "$work/wavs"
"$ccrec" play "${cfg[@]}" "$id" -o "$work/wavs/$id.wav" > /dev/null
cmp "$work/before.wav" "$work/wavs/$id.wav" || fail "compressed audio differs from the WAV"
"$ccrec" verify "${cfg[@]}" "$work"/data/recordings/*/*/*/"$id.flac.ccenx"
"$pbxsim" check --manifest "$work/manifest.json" --wav-dir "$work/wavs" \
  --scan-dir "$work/data" "$capture"

# encrypt-existing: dry run, run, rerun.
legacy=$work/data/recordings/legacy
mkdir -p "$legacy/2019"
cp "$work/before.wav" "$legacy/2019/old.wav"
echo "not audio" > "$legacy/notes.txt"
"$ccrec" encrypt-existing "${cfg[@]}" --dry-run "$legacy" | tee "$work/dry.txt"
grep -q "^would encrypt $legacy/2019/old.wav$" "$work/dry.txt" || fail "dry run does not list the WAV"
cmp "$work/before.wav" "$legacy/2019/old.wav" || fail "the dry run changed the file"
"$ccrec" encrypt-existing "${cfg[@]}" "$legacy" | tee "$work/enc.txt"
grep -q "^1 files encrypted" "$work/enc.txt" || fail "encrypt-existing did not encrypt"
[ "$(head -c 5 "$legacy/2019/old.wav")" = "CCENX" ] || fail "the legacy WAV is not CCENX"
"$ccrec" encrypt-existing "${cfg[@]}" "$legacy" | grep -q "^0 files encrypted (0 bytes), 1 already CCENX" \
  || fail "the rerun did not skip the encrypted file"
"$ccrec" play "${cfg[@]}" "$legacy/2019/old.wav" -o "$work/legacy.wav" > /dev/null
cmp "$work/before.wav" "$work/legacy.wav" || fail "the encrypted legacy WAV does not play back"
echo "programs_transcode: all checks passed"
