#!/usr/bin/env bash
# Times `compose up -d` and `compose down -v -t 0` of a project of SERVICES busybox services
# (each running a shell loop, half of them with a named volume), ROUNDS times, and prints the
# mean per command and per container. For scale it also times the bare runtime's
# create+start+wait+delete of /bin/true (crates/runtime/examples/run_true, overlay rootfs) and
# prints the engine's per-container cost over it. As root; everything in a temp data root.
#
# Env: SERVICES (default 20), ROUNDS (default 5), COMPOSE_BIN (default: release build).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES="${SERVICES:-20}"
ROUNDS="${ROUNDS:-5}"
if [ -z "${COMPOSE_BIN:-}" ]; then
  cargo build --release -q -p compose-cli
  COMPOSE_BIN=$PWD/target/release/compose
fi
cargo build --release -q -p compose-runtime --example run_true
tmp=$(mktemp -d)
trap '"$COMPOSE_BIN" --data-root "$tmp/root" -p bench down -v -t 0 >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
COMPOSE_BIN=$COMPOSE_BIN XDG_CACHE_HOME=$tmp/cache scripts/base-images --data-root "$tmp/root" >/dev/null
mkdir "$tmp/proj"
{
  echo "services:"
  for i in $(seq 1 "$SERVICES"); do
    echo "  s$i:"
    echo "    image: busybox"
    echo "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while :; do sleep 1; done\"]"
    if [ $((i % 2)) -eq 0 ]; then echo "    volumes: [v$i:/data]"; fi
  done
  echo "volumes:"
  for i in $(seq 2 2 "$SERVICES"); do echo "  v$i:"; done
} > "$tmp/proj/compose.yaml"

c() { (cd "$tmp/proj" && "$COMPOSE_BIN" --data-root "$tmp/root" -p bench "$@" 2>/dev/null); }
now() { date +%s.%N; }
up_total=0; down_total=0
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now); c up -d; t1=$(now); c down -v -t 0; t2=$(now)
  up_total=$(echo "$up_total + $t1 - $t0" | bc -l)
  down_total=$(echo "$down_total + $t2 - $t1" | bc -l)
done
runs=200
rt=$( { /usr/bin/time -f %e target/release/examples/run_true "$runs" overlay >/dev/null; } 2>&1 | tail -1)
per_rt=$(echo "$rt / $runs * 1000" | bc -l)
up_ms=$(echo "$up_total / $ROUNDS * 1000" | bc -l)
down_ms=$(echo "$down_total / $ROUNDS * 1000" | bc -l)
per_ctr=$(echo "($up_ms + $down_ms) / $SERVICES" | bc -l)
printf 'services: %d, rounds: %d\n' "$SERVICES" "$ROUNDS"
printf 'up -d:          %8.1f ms  (%6.2f ms per container)\n' "$up_ms" "$(echo "$up_ms / $SERVICES" | bc -l)"
printf 'down -v -t 0:   %8.1f ms  (%6.2f ms per container)\n' "$down_ms" "$(echo "$down_ms / $SERVICES" | bc -l)"
printf 'runtime alone:  %8.2f ms per create+start+wait+delete of /bin/true\n' "$per_rt"
printf 'engine up+down per container / runtime lifecycle: %.1fx\n' "$(echo "$per_ctr / $per_rt" | bc -l)"
