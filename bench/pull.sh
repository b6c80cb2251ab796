#!/usr/bin/env bash
# Pull and push of a ~200 MB multi-layer image (gzip layers of real files from /usr) through a
# local registry (Debian's docker-registry on 127.0.0.1), ours against skopeo, in one run.
# See bench/README.md.
#
#   ours pull:   compose image pull REF        download and verify into the store, record;
#                the snapshots are made when a container or build first needs them
#   skopeo pull: skopeo copy docker://REF oci:DIR   download and verify only (no unpack)
#   ours + first use: the `pull` example in `deferred+use` mode: the same pull, then the
#                snapshots made as a first create makes them
#   ours eager:  the `pull` example in `eager` mode: each layer unpacked as it downloads
#                (what `up` does for an image it lacks)
#   skopeo+tar:  skopeo's copy, then tar -xzf of each layer into its own directory
#   base pull:   BASE_BIN (another compose binary, e.g. main's) doing what "ours pull" does,
#                interleaved with it: a before/after in one run
#   ours push:   compose image push REF        into an empty registry
#   skopeo push: skopeo copy oci:DIR docker://REF    into an empty registry
#
# Env: RUNS (default 3), LAYERS (default 4), MB_PER_LAYER (uncompressed file bytes per layer,
# default 120), COMPOSE_BIN (skip the release build), PULL_BIN (the `pull` example, release),
# BASE_BIN (optional baseline binary). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib_registry.sh
RUNS=${RUNS:-3}
LAYERS=${LAYERS:-4}
MB_PER_LAYER=${MB_PER_LAYER:-120}
apt_install docker-registry skopeo python3
compose_bin
if [[ -z "${PULL_BIN:-}" ]]; then
  cargo build --release -q -p compose-image --example pull
  PULL_BIN=$PWD/target/release/examples/pull
fi

WORK=$(mktemp -d /tmp/bench-pull.XXXXXX)
cleanup() { stop_registry; rm -rf "$WORK"; }
trap cleanup EXIT

PORT=$(free_port)
REF=127.0.0.1:$PORT/bench/big:1
echo "making the image ($LAYERS layers of ~$MB_PER_LAYER MB of files)..."
BYTES=$(python3 bench/mkimage.py "$WORK/layout" "$REF" "$LAYERS" "$MB_PER_LAYER")
MB=$(python3 -c "print(f'{$BYTES/1e6:.1f}')")
echo "image: $MB MB of compressed layers"
SK_TLS=(--src-tls-verify=false --dest-tls-verify=false)

# Push: each run into an empty registry.
"$COMPOSE_BIN" --data-root "$WORK/src" image load -q -i "$WORK/layout"
ours_push=() sk_push=()
for i in $(seq "$RUNS"); do
  start_registry "$WORK/reg-ours-$i" "$PORT"
  ours_push+=("$(secs "$COMPOSE_BIN" --data-root "$WORK/src" --progress quiet image push "$REF")")
  stop_registry
  start_registry "$WORK/reg-sk-$i" "$PORT"
  sk_push+=("$(secs skopeo copy -q "${SK_TLS[@]}" "oci:$WORK/layout:bench" "docker://$REF")")
  stop_registry
  rm -rf "$WORK/reg-ours-$i" "$WORK/reg-sk-$i"
done

# Pull: one registry holding the image; each run into an empty store / directory.
start_registry "$WORK/reg" "$PORT"
skopeo copy -q "${SK_TLS[@]}" "oci:$WORK/layout:bench" "docker://$REF"
LAYER_HEXES=$(python3 -c 'import json,sys
d=sys.argv[1]; i=json.load(open(d+"/index.json"))["manifests"][0]["digest"].split(":")[1]
m=json.load(open(d+"/blobs/sha256/"+i)); print(" ".join(l["digest"].split(":")[1] for l in m["layers"]))' "$WORK/layout")
skopeo_and_tar() {
  local dir=$1
  skopeo copy -q "${SK_TLS[@]}" "docker://$REF" "oci:$dir:bench"
  for h in $LAYER_HEXES; do
    mkdir -p "$dir-rootfs/$h"
    tar -xzf "$dir/blobs/sha256/$h" -C "$dir-rootfs/$h"
  done
}
ours_pull=() sk_pull=() skt_pull=() def_pull=() defu_pull=() base_pull=()
for i in $(seq "$RUNS"); do
  sync
  ours_pull+=("$(secs "$COMPOSE_BIN" --data-root "$WORK/dst-$i" --progress quiet image pull "$REF")")
  if [[ -n "${BASE_BIN:-}" ]]; then
    sync
    base_pull+=("$(secs "$BASE_BIN" --data-root "$WORK/base-$i" --progress quiet image pull "$REF")")
  fi
  sync
  def_pull+=("$(secs "$PULL_BIN" "$WORK/def-$i" "$REF" eager)")
  sync
  defu_pull+=("$(secs "$PULL_BIN" "$WORK/defu-$i" "$REF" deferred+use)")
  sync
  sk_pull+=("$(secs skopeo copy -q "${SK_TLS[@]}" "docker://$REF" "oci:$WORK/sk-$i:bench")")
  sync
  skt_pull+=("$(secs skopeo_and_tar "$WORK/skt-$i")")
  rm -rf "$WORK/dst-$i" "$WORK/sk-$i" "$WORK/skt-$i" "$WORK/skt-$i-rootfs" "$WORK/base-$i" \
    "$WORK/def-$i" "$WORK/defu-$i"
done
stop_registry

op=$(median "${ours_pull[@]}"); sp=$(median "${sk_pull[@]}"); stp=$(median "${skt_pull[@]}")
ou=$(median "${ours_push[@]}"); su=$(median "${sk_push[@]}")
dp=$(median "${def_pull[@]}"); dup=$(median "${defu_pull[@]}")
bp=0; ((${#base_pull[@]})) && bp=$(median "${base_pull[@]}")
python3 - "$MB" "$op" "$sp" "$stp" "$ou" "$su" "$RUNS" "$dp" "$dup" "$bp" <<'PY'
import sys
mb, op, sp, stp, ou, su, runs = float(sys.argv[1]), *map(float, sys.argv[2:7]), sys.argv[7]
dp, dup, bp = map(float, sys.argv[8:11])
print(f"\nmedian of {runs} runs, {mb:.1f} MB of compressed layers")
print(f"{'':36}{'seconds':>9}{'MB/s':>9}{'other/ours':>12}")
# dp: the library's eager pull (what `up` does for a missing image: each layer unpacked
# as it downloads); dup: `image pull`'s deferred pull, then the snapshots made as at a
# first create.
rows = [("pull ours (`image pull`, no unpack)", op, "")]
if bp:
    rows.append(("pull base (BASE_BIN image pull)", bp, f"{bp / op:.2f}"))
rows += [("pull skopeo (no unpack)", sp, f"{sp / op:.2f}"),
        ("pull ours + unpack at first use", dup, ""),
        ("pull ours eager (as `up` pulls)", dp, ""),
        ("pull skopeo + tar -xzf", stp, f"{stp / dp:.2f}"),
        ("push ours", ou, ""), ("push skopeo", su, f"{su / ou:.2f}")]
for name, t, ratio in rows:
    print(f"{name:36}{t:9.2f}{mb / t:9.1f}{ratio:>12}")
print("(other/ours above 1: ours is faster; skopeo + tar is compared with our eager pull,")
print(" the same work: download, verify, unpack)")
PY
