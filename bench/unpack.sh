#!/usr/bin/env bash
# Unpacking one ~200 MB gzip layer (real files from /usr), ours against GNU tar -xzf and
# umoci, in one run. See bench/README.md.
#
#   ours:  the unpack_layer example (openat2 RESOLVE_IN_ROOT unpacker, DiffID hashed, gzip
#          decoded on its own thread), release build
#   tar:   tar -xzf LAYER -C DIR (GNU tar with gzip as a child process)
#   umoci: umoci raw unpack --image LAYOUT:bench DIR (Debian's umoci)
#
# Env: RUNS (default 3), MB (uncompressed file bytes in the layer, default 550),
# UNPACK_BIN (skip the release build). The blob is read once before timing (page cache).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib_registry.sh
RUNS=${RUNS:-3}
MB=${MB:-550}
apt_install python3 umoci
if [[ -z "${UNPACK_BIN:-}" ]]; then
  cargo build --release -q -p compose-image --example unpack_layer
  UNPACK_BIN=$PWD/target/release/examples/unpack_layer
fi

WORK=$(mktemp -d /tmp/bench-unpack.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "making the layer (~$MB MB of files)..."
BYTES=$(python3 bench/mkimage.py "$WORK/layout" bench:1 1 "$MB")
LAYER=$(ls -S "$WORK/layout/blobs/sha256/" | head -n1)
LAYER=$WORK/layout/blobs/sha256/$LAYER
TAR_MB=$(python3 -c "import gzip,sys; n=0
with gzip.open(sys.argv[1]) as f:
    while (b := f.read(1 << 20)): n += len(b)
print(f'{n/1e6:.1f}')" "$LAYER")
GZ_MB=$(python3 -c "print(f'{$BYTES/1e6:.1f}')")
echo "layer: $GZ_MB MB gzip, $TAR_MB MB tar"
cat "$LAYER" >/dev/null

ours=() tar_t=() umoci_t=()
for i in $(seq "$RUNS"); do
  sync
  ours+=("$(secs "$UNPACK_BIN" "$LAYER" "$WORK/ours")")
  rm -rf "$WORK/ours"; sync
  mkdir "$WORK/tar"
  tar_t+=("$(secs tar -xzf "$LAYER" -C "$WORK/tar")")
  rm -rf "$WORK/tar"; sync
  umoci_t+=("$(secs umoci raw unpack --image "$WORK/layout:bench" "$WORK/umoci")")
  rm -rf "$WORK/umoci"
done

python3 - "$GZ_MB" "$TAR_MB" "$RUNS" "$(median "${ours[@]}")" "$(median "${tar_t[@]}")" "$(median "${umoci_t[@]}")" <<'PY'
import sys
gz, tar, runs = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
rows = [("ours", float(sys.argv[4])), ("tar -xzf", float(sys.argv[5])), ("umoci raw unpack", float(sys.argv[6]))]
ours = rows[0][1]
print(f"\nmedian of {runs} runs: {gz:.1f} MB gzip layer, {tar:.1f} MB tar")
print(f"{'':18}{'seconds':>9}{'MB/s gz':>9}{'MB/s tar':>10}{'t/ours':>8}")
for name, t in rows:
    print(f"{name:18}{t:9.2f}{gz / t:9.1f}{tar / t:10.1f}{t / ours:8.2f}")
print("(t/ours above 1: ours is faster)")
PY
