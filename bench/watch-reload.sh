#!/usr/bin/env bash
# Compose-file-edit-to-recreated latency of the reload loop: an attached
# `compose up --reload` runs two busybox services; EDITS times the script saves compose.yaml
# (a new file renamed over the old one, as editors do) with one service's environment
# changed, and measures from the rename until the recreated container's first output line
# reaches the attached output (reload = debounce + load + plan + stop old + create + start).
# Prints p50/p99. For scale it then does the same edits by hand, `compose up -d` after each
# save, timing the command until the new container has logged, and prints the ratio
# (above 1: the loop is faster than edit + `up -d`). As root; all in a temp data root.
#
# Env: EDITS (default 50), COMPOSE_BIN (default: release build).
set -euo pipefail
cd "$(dirname "$0")/.."
EDITS="${EDITS:-50}"
if [ -z "${COMPOSE_BIN:-}" ]; then
  cargo build --release -q -p compose-cli --bin compose -p compose-runtime --bin compose-runtime-shim
  COMPOSE_BIN=$PWD/target/release/compose
fi
tmp=$(mktemp -d)
cleanup() {
  (cd "$tmp/proj" 2>/dev/null && "$COMPOSE_BIN" --data-root "$tmp/root" -p bench down -v -t 0 >/dev/null 2>&1) || true
  rm -rf "$tmp"
}
trap cleanup EXIT
COMPOSE_BIN=$COMPOSE_BIN XDG_CACHE_HOME=$tmp/cache scripts/base-images --data-root "$tmp/root" >/dev/null
mkdir "$tmp/proj"
cat > "$tmp/proj/gen.py" <<'PY'
import sys
n = sys.argv[1]
# `wait` returns on SIGTERM at once (a foreground sleep would hold the trap back).
loop = "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"
print(f"""services:
  web:
    image: busybox
    command: ["sh", "-c", "echo edit=$$EDIT; {loop}"]
    environment: {{EDIT: "{n}"}}
  db:
    image: busybox
    command: ["sh", "-c", "{loop}"]""")
PY
python3 "$tmp/proj/gen.py" 0 > "$tmp/proj/compose.yaml"
python3 - "$tmp" "$EDITS" "$COMPOSE_BIN" <<'PY'
import os, subprocess, sys, time, signal
tmp, edits, bin_ = sys.argv[1], int(sys.argv[2]), sys.argv[3]
proj, log = f"{tmp}/proj", f"{tmp}/out.log"
c = [bin_, "--data-root", f"{tmp}/root", "-p", "bench"]
out = open(log, "wb")
attached = subprocess.Popen(c + ["up", "--reload"], cwd=proj, stdin=subprocess.DEVNULL, stdout=out, stderr=out)

def save(n):
    text = subprocess.run(["python3", f"{proj}/gen.py", str(n)], capture_output=True, text=True, check=True).stdout
    with open(f"{proj}/.compose.yaml.swp", "w") as f:
        f.write(text)
    os.rename(f"{proj}/.compose.yaml.swp", f"{proj}/compose.yaml")

def wait_for(path, needle, start, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
        if needle.encode() in data:
            return
        time.sleep(0.002)
    sys.exit(f"timed out waiting for {needle!r} in {path}")

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

ours, applied = [], []
try:
    wait_for(log, "web-1  | edit=0", 0)
    for i in range(1, edits + 1):
        start = os.path.getsize(log)
        t0 = time.monotonic()
        save(i)
        wait_for(log, "reload: applied", start)
        applied.append((time.monotonic() - t0) * 1000)
        wait_for(log, f"web-1  | edit={i}\n", start)
        ours.append((time.monotonic() - t0) * 1000)
        time.sleep(0.2)
finally:
    attached.send_signal(signal.SIGINT)
    try:
        attached.wait(60)
    except subprocess.TimeoutExpired:
        attached.kill()
        attached.wait()

def up_d():
    r = subprocess.run(c + ["up", "-d"], cwd=proj, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"up -d: {r.stderr}")

manual = []
up_d()
for i in range(edits + 1, 2 * edits + 1):
    t0 = time.monotonic()
    save(i)
    up_d()
    while f"edit={i}" not in subprocess.run(c + ["logs", "web"], cwd=proj, capture_output=True, text=True).stdout:
        time.sleep(0.002)
    manual.append((time.monotonic() - t0) * 1000)
print(f"edits: {edits}")
print(f"reload loop (edit -> recreated, started): p50 {pct(applied, 50):7.1f} ms  p99 {pct(applied, 99):7.1f} ms")
print(f"reload loop (edit -> recreated web logs):  p50 {pct(ours, 50):7.1f} ms  p99 {pct(ours, 99):7.1f} ms")
print(f"edit + `up -d` by hand (same until logs): p50 {pct(manual, 50):7.1f} ms  p99 {pct(manual, 99):7.1f} ms")
print(f"p50 ratio by hand / loop: {pct(manual, 50) / pct(ours, 50):.2f}x")
PY
