#!/usr/bin/env bash
# Times `compose stop` (no -t: Docker's 10 s grace period) of SERVICES busybox services whose
# PID 1 is `sleep 1000` (no TERM handler: the kernel drops TERM for a namespace's init, so
# the engine SIGKILLs at once) against the same number of services that trap TERM and exit,
# ROUNDS times, and prints each mean and its ratio to the grace period that a stop without
# the check would have waited out. As root; everything in a temp data root.
#
# Env: SERVICES (default 10), ROUNDS (default 3), COMPOSE_BIN (default: release build).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES="${SERVICES:-10}"
ROUNDS="${ROUNDS:-3}"
if [ -z "${COMPOSE_BIN:-}" ]; then
  cargo build --release -q -p compose-cli --bin compose -p compose-runtime --bin compose-runtime-shim
  COMPOSE_BIN=$PWD/target/release/compose
fi
tmp=$(mktemp -d)
trap '"$COMPOSE_BIN" --data-root "$tmp/root" -p sleepers down -t 0 >/dev/null 2>&1 || true; "$COMPOSE_BIN" --data-root "$tmp/root" -p trappers down -t 0 >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
COMPOSE_BIN=$COMPOSE_BIN XDG_CACHE_HOME=$tmp/cache scripts/base-images --data-root "$tmp/root" >/dev/null
project() { # name command-json
  mkdir -p "$tmp/$1"
  {
    echo "services:"
    for i in $(seq 1 "$SERVICES"); do
      echo "  s$i:"
      echo "    image: busybox"
      echo "    command: $2"
    done
  } > "$tmp/$1/compose.yaml"
}
project sleepers '["sleep", "1000"]'
project trappers "[\"sh\", \"-c\", \"trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done\"]"
c() { local p=$1; shift; (cd "$tmp/$p" && "$COMPOSE_BIN" --data-root "$tmp/root" -p "$p" "$@" 2>/dev/null); }
now() { date +%s.%N; }
time_stop() { # project -> mean seconds of `stop`
  local total=0
  for _ in $(seq 1 "$ROUNDS"); do
    c "$1" up -d
    # Let every trap be set before the stop (a shell not yet at `trap` would be killed).
    while [ "$(c "$1" logs | grep -c ready || true)" -lt "$([ "$1" = trappers ] && echo "$SERVICES" || echo 0)" ]; do sleep 0.05; done
    local t0 t1; t0=$(now); c "$1" stop; t1=$(now)
    total=$(echo "$total + $t1 - $t0" | bc -l)
    c "$1" rm -f >/dev/null
  done
  echo "$total / $ROUNDS" | bc -l
}
s=$(time_stop sleepers)
t=$(time_stop trappers)
printf 'services: %d, rounds: %d, grace period: 10 s\n' "$SERVICES" "$ROUNDS"
printf 'stop, PID 1 without a TERM handler (SIGKILL at once): %8.1f ms  (%.4f of the grace period)\n' "$(echo "$s * 1000" | bc -l)" "$(echo "$s / 10" | bc -l)"
printf 'stop, PID 1 trapping TERM (exits on it):              %8.1f ms  (%.4f of the grace period)\n' "$(echo "$t * 1000" | bc -l)" "$(echo "$t / 10" | bc -l)"
