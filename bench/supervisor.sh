#!/usr/bin/env bash
# The project supervisor's memory and its restart latency. Brings up SERVICES busybox
# services on one network, each with a health check every second and `restart: always`,
# lets the checks run for a few seconds, then prints the supervisor's resident memory
# (VmRSS, split into anonymous and file-backed pages: the latter are the binary's code, shared
# with the page cache). Then it kills one container's processes ROUNDS times and prints the
# mean time from the kill until `ps` shows it running again (Docker's first backoff step is
# 100 ms of that). As root; everything in a temp data root.
#
# Env: SERVICES (default 10), ROUNDS (default 5), COMPOSE_BIN (default: release build).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES="${SERVICES:-10}"
ROUNDS="${ROUNDS:-5}"
if [ -z "${COMPOSE_BIN:-}" ]; then
  cargo build --release -q -p compose-cli --bin compose -p compose-runtime --bin compose-runtime-shim
  COMPOSE_BIN=$PWD/target/release/compose
fi
tmp=$(mktemp -d)
trap '"$COMPOSE_BIN" --data-root "$tmp/root" -p bench down -v -t 0 >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
COMPOSE_BIN=$COMPOSE_BIN XDG_CACHE_HOME=$tmp/cache scripts/base-images --data-root "$tmp/root" >/dev/null
mkdir "$tmp/proj"
{
  echo "services:"
  for i in $(seq 1 "$SERVICES"); do
    echo "  s$i:"
    echo "    image: busybox"
    echo "    restart: always"
    echo "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while :; do sleep 1; done\"]"
    echo "    healthcheck: {test: [\"CMD\", \"true\"], interval: 1s}"
  done
} > "$tmp/proj/compose.yaml"

c() { (cd "$tmp/proj" && "$COMPOSE_BIN" --data-root "$tmp/root" -p bench "$@" 2>/dev/null); }
now() { date +%s.%N; }
c up -d
sleep 5
pid=$(cat "$tmp/root/supervisors/bench/pid")
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
printf 'services: %d (health check every 1 s, restart: always)\n' "$SERVICES"
printf 'supervisor VmRSS: %6.1f MB (anonymous %.1f MB, file %.1f MB), threads: %s\n' \
  "$(echo "$(kb VmRSS) / 1024" | bc -l)" "$(echo "$(kb RssAnon) / 1024" | bc -l)" \
  "$(echo "$(kb RssFile) / 1024" | bc -l)" "$(kb Threads)"
id=$(c ps -q s1)
# cgroup v2, else v1's pids hierarchy.
procs=/sys/fs/cgroup/compose/$id/cgroup.procs
[ -e "$procs" ] || procs=/sys/fs/cgroup/pids/compose/$id/cgroup.procs
total=0
for r in $(seq 1 "$ROUNDS"); do
  old=$(head -1 "$procs")
  t0=$(now)
  xargs -r kill -9 < "$procs" 2>/dev/null || true
  # Back: a new init in its cgroup, and `ps` says running.
  until new=$(head -1 "$procs" 2>/dev/null) && [ -n "$new" ] && [ "$new" != "$old" ] \
    && c ps --format json s1 | grep -q '"State":"running"'; do sleep 0.005; done
  t1=$(now)
  total=$(echo "$total + $t1 - $t0" | bc -l)
  sleep 11   # past Docker's 10 s: the backoff starts again at 100 ms
done
printf 'kill -9 to running again: %.0f ms mean over %d (backoff 100 ms included)\n' \
  "$(echo "$total / $ROUNDS * 1000" | bc -l)" "$ROUNDS"
