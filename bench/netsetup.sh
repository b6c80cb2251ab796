#!/usr/bin/env bash
# Per-container network setup time (veth with its peer made in the netns, address, lo up,
# default route): our netlink API (`endpoint::attach`) against the same steps done with
# `ip` commands, in one run on two bridges of their own. Prints ms per container and the
# ratio. Needs root and iproute2. No traffic is sent.
#
# Env: CONTAINERS (default 50), RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
CONTAINERS="${CONTAINERS:-50}"
RUNS="${RUNS:-3}"
cargo build -q --release -p compose-network --example netsetup
for i in $(seq "$RUNS"); do
  echo "== run $i"
  target/release/examples/netsetup "$CONTAINERS"
done
