#!/usr/bin/env bash
# develop.watch sync latency: EDITS times, a file under a `sync` rule is rewritten on the host
# with new content, and the time until that content is readable inside the container (through
# /proc/<init>/root/<target>, the container's own view) is taken. Prints p50, p90, p99 and
# max against the targets (p50 < 50 ms, p99 < 200 ms). As root; everything in a temp data
# root, torn down at the end.
#
# Env: EDITS (default 200), COMPOSE_BIN (default: release build).
set -euo pipefail
cd "$(dirname "$0")/.."
EDITS="${EDITS:-200}"
if [ -z "${COMPOSE_BIN:-}" ]; then
  cargo build --release -q -p compose-cli --bin compose -p compose-runtime --bin compose-runtime-shim
  COMPOSE_BIN=$PWD/target/release/compose
fi
tmp=$(mktemp -d)
proj=$tmp/proj
watch_pid=
cleanup() {
  if [ -n "$watch_pid" ]; then
    kill -INT "$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  (cd "$proj" && "$COMPOSE_BIN" --data-root "$tmp/root" -p watchbench down -t 1 >/dev/null 2>&1) || true
  rm -rf "$tmp"
}
trap cleanup EXIT
COMPOSE_BIN=$COMPOSE_BIN XDG_CACHE_HOME=$tmp/cache scripts/base-images --data-root "$tmp/root" >/dev/null
mkdir -p "$proj/src"
cat > "$proj/compose.yaml" <<'YAML'
services:
  app:
    image: busybox
    command: ["sh", "-c", "mkdir -p /app; trap 'exit 0' TERM; while :; do sleep 1; done"]
    develop:
      watch:
        - {path: ./src, action: sync, target: /app}
YAML
echo 0 > "$proj/src/file.txt"
(cd "$proj" && exec "$COMPOSE_BIN" --data-root "$tmp/root" -p watchbench watch >"$tmp/watch.log" 2>&1) &
watch_pid=$!
for _ in $(seq 1 600); do grep -q "Watch enabled" "$tmp/watch.log" && break; sleep 0.1; done
grep -q "Watch enabled" "$tmp/watch.log" || { cat "$tmp/watch.log"; exit 1; }
id=$(cd "$proj" && "$COMPOSE_BIN" --data-root "$tmp/root" -p watchbench ps -q app)
# The container's init: the lowest pid in its pids cgroup.
pid=$(sort -n "$(find /sys/fs/cgroup/pids /sys/fs/cgroup/unified /sys/fs/cgroup -maxdepth 4 -type d -name "*$id*" 2>/dev/null | head -1)/cgroup.procs" | head -1)
python3 - "$proj/src/file.txt" "/proc/$pid/root/app/file.txt" "$EDITS" <<'PY'
import os, sys, time
host, inside, edits = sys.argv[1], sys.argv[2], int(sys.argv[3])
def read():
    try:
        with open(inside) as f:
            return f.read()
    except OSError:
        return None
lat = []
for i in range(1, edits + 1):
    want = f"edit {i}\n"
    t0 = time.perf_counter()
    with open(host, "w") as f:
        f.write(want)
    while read() != want:
        if time.perf_counter() - t0 > 10:
            sys.exit(f"edit {i}: not visible after 10 s")
        time.sleep(0.0002)
    lat.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.05)  # separate edits: each is its own batch
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"edits: {edits}")
print(f"change-to-visible latency: p50 {q(0.50):.1f} ms, p90 {q(0.90):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1]:.1f} ms")
print(f"targets: p50 < 50 ms ({q(0.50) / 50:.2f} of it), p99 < 200 ms ({q(0.99) / 200:.2f} of it)")
PY
