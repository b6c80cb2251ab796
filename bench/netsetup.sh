#!/usr/bin/env bash
# Per-container network setup time (veth with its peer made in the netns, address, lo up,
# default route): our netlink API (`endpoint::attach`) against the same steps done with
# `ip` commands, in one run on two bridges of their own; then the anchor the issue names,
# podman's netavark (+ aardvark-dns), as the difference between `podman run --network
# <bridge>` and `--network none` (bench/netsetup-podman.sh). Prints ms per container and the
# ratios. Needs root and iproute2 (and podman, runc for the anchor). No traffic is sent.
#
# Env: CONTAINERS (default 50), RUNS (default 3), PODMAN_RUNS (default 20; 0 skips podman).
set -euo pipefail
cd "$(dirname "$0")/.."
CONTAINERS="${CONTAINERS:-50}"
RUNS="${RUNS:-3}"
PODMAN_RUNS="${PODMAN_RUNS:-20}"
cargo build -q --release -p compose-network --example netsetup
ours=()
for i in $(seq "$RUNS"); do
  echo "== run $i"
  out=$(target/release/examples/netsetup "$CONTAINERS")
  echo "$out"
  ours+=("$(echo "$out" | awk '/^ours/ {print $(NF-3)}')")
done
if [ "$PODMAN_RUNS" -gt 0 ]; then
  echo "== podman (netavark, aardvark-dns)"
  pod=$(RUNS="$PODMAN_RUNS" bash bench/netsetup-podman.sh)
  echo "$pod"
  diff_ms=$(echo "$pod" | awk '/difference/ {print $(NF-1)}')
  best=$(printf '%s\n' "${ours[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  awk -v o="$best" -v p="$diff_ms" 'BEGIN {
    printf "ours (median of runs) %.3f ms vs netavark %.1f ms per container: %.0fx\n", o, p, p / o
  }'
fi
