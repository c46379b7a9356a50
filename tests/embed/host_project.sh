#!/usr/bin/env bash
# Installs ccrec to a temp prefix, builds examples/embed_host against it with
# find_package(ccrec), runs it, and checks the recordings with `ccrec`:
#   1. two calls recorded through the embedded actors, both complete;
#   2. the host shuts down mid-call: the file is sealed, marked final, verifies.
#   host_project.sh BUILD_DIR SOURCE_DIR CCREC
set -euo pipefail
BUILD=$1 SRC=$2 CCREC=$3
WORK=$(mktemp -d /tmp/ccrec-embed-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export CCREC_KEK_SECRET="embed-test-secret-$$"

cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
cmake -S "$SRC/examples/embed_host" -B "$WORK/host" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$WORK/host" >/dev/null
HOST="$WORK/host/embed_host"
PORT_BASE=$(( 35000 + ($$ % 100) * 50 ))
PORTS="$PORT_BASE-$((PORT_BASE + 49))"
printf '[engine]\nkdf_profile = "test"\n' >"$WORK/ccrec.toml"

check_recordings() {  # DATA_DIR EXPECTED_COUNT
  "$CCREC" recordings --config "$WORK/ccrec.toml" --data-dir "$1" --json >"$WORK/rows.json"
  python3 - "$WORK/rows.json" "$2" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
assert len(rows) == want, f"expected {want} recordings, got {len(rows)}"
for r in rows:
    assert r["status"] == "complete", r
    assert r["encryption"] == "ccenx", r
    assert r["packets"] > 0, r
print(f"{len(rows)} recordings complete: " + ", ".join(str(r['packets']) + " packets" for r in rows))
PY
  mapfile -t files < <(find "$1/recordings" -type f)
  "$CCREC" verify --config "$WORK/ccrec.toml" --data-dir "$1" "${files[@]}"
}

echo "== two calls through the embedded engine"
"$HOST" "$WORK/data1" --calls 2 --ports "$PORTS" | tee "$WORK/host1.log"
[ "$(grep -c ' started$' "$WORK/host1.log")" -eq 2 ]
[ "$(grep -c ' stopped$' "$WORK/host1.log")" -eq 2 ]
grep -q "engine stopped cleanly" "$WORK/host1.log"
check_recordings "$WORK/data1" 2

echo "== the host shuts down mid-call"
"$HOST" "$WORK/data2" --calls 1 --stop-mid-call --ports "$PORTS" | tee "$WORK/host2.log"
grep -q "engine stopped cleanly" "$WORK/host2.log"
check_recordings "$WORK/data2" 1
echo "embedding: package found, calls recorded, shutdown mid-call left a sealed, final file"
