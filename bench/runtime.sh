#!/usr/bin/env bash
# `run /bin/true` on one busybox bundle with compose-oci, crun and runc, interleaved, RUNS
# times each (default 50), with the host's network and with a fresh network namespace.
# Prints median and p90 per runtime and each one's median over ours (above 1: ours is
# faster); first, the syscalls each makes in one run (strace -f -c: work, not time, so
# the same under load). As root. Every runtime runs alike inside
# `unshare -m --propagation private` with the cgroup2 mount at /sys/fs/cgroup/unified
# unmounted (crun 1.8 refuses hybrid hosts otherwise); runc 1.1 would run without that.
#
#   bash bench/runtime.sh            # RUNS=50
#   OURS=path/to/compose-oci RUNS=200 bash bench/runtime.sh   # without OURS: cargo oci-release
#   BASE=path/to/older/compose-oci bash bench/runtime.sh   # adds it as "base": before/after
#   OURS=target/release/compose-oci BASE=... RUNS=200      # a given release build, no cargo
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}

for tool in runc crun; do
  command -v "$tool" >/dev/null || { echo "installing $tool"; apt-get install -y "$tool" >/dev/null; }
done
[ -x /bin/busybox ] || apt-get install -y busybox-static >/dev/null
if [ -z "${OURS:-}" ]; then
  # Static, not position-independent: the `oci-release` alias in .cargo/config.toml.
  cargo -q oci-release
  OURS=$PWD/target/release/compose-oci
fi

tmp=$(mktemp -d)
# compose-oci keeps its cgroup parent across runs (as crun and runc do theirs): removed
# at the end when empty.
trap 'rm -rf "$tmp"; rmdir /sys/fs/cgroup/*/compose-oci 2>/dev/null || true' EXIT
mkdir -p "$tmp/bundle/rootfs/bin" "$tmp/bundle/rootfs"/{proc,dev,sys,tmp,etc}
cp /bin/busybox "$tmp/bundle/rootfs/bin/busybox"
ln -s busybox "$tmp/bundle/rootfs/bin/true"
(cd "$tmp/bundle" && crun spec)
# Same work for all: no terminal, /bin/true, no cgroup mount inside (ours skips it).
python3 - "$tmp/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
json.dump(c, open(p, "w"))
hostnet = dict(c)
hostnet["linux"] = dict(c["linux"])
hostnet["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(hostnet, open(p.replace("config.json", "config.hostnet.json"), "w"))
PY

cat > "$tmp/bench.py" <<'PY'
import os, shutil, statistics, subprocess, sys, time
ours, runs, tmp, base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
bundle = os.path.join(tmp, "bundle")
tools = [("ours", ours), ("crun", shutil.which("crun")), ("runc", shutil.which("runc"))]
if base:
    tools.insert(1, ("base", base))

def once(name, exe, cid):
    # posix_spawn (vfork and exec), output to a file, one waitpid: the harness's own cost
    # per run stays small and the same for every runtime (subprocess.run's pipes and
    # select loop added ~0.5 ms to each).
    root = os.path.join(tmp, "root-" + name)
    out = os.path.join(tmp, "out-" + name)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    argv = [exe, "--root", root, "run", "--bundle", bundle, cid]
    t = time.perf_counter()
    pid = os.posix_spawn(exe, argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    dt = time.perf_counter() - t
    if status != 0:
        sys.exit(f"{name} failed ({status}): {open(out, errors='replace').read().strip()}")
    return dt

def series(label):
    times = {n: [] for n, _ in tools}
    for n, exe in tools:          # warm-up, and a check that each runs
        once(n, exe, f"warm-{n}")
    for i in range(runs):         # interleaved: drift hits all alike
        # Rotated: each runtime follows each other one as often, since a run leaves the
        # kernel async teardown (netns cleanup, cgroup css release) that the next one meets.
        k = i % len(tools)
        for n, exe in tools[k:] + tools[:k]:
            times[n].append(once(n, exe, f"b{i}-{n}"))
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"\n{label}: {runs} runs each of `run /bin/true`")
    print(f"{'runtime':8} {'median ms':>10} {'p90 ms':>8}  {'median / ours':>13}")
    for n, v in times.items():
        p90 = sorted(v)[max(0, int(len(v) * 0.9) - 1)]
        print(f"{n:8} {med[n]*1e3:10.2f} {p90*1e3:8.2f}  {med[n]/med['ours']:13.2f}")

def syscalls(name, exe):
    # Work, not time: the same under any load. Every process of the run, children too.
    out = os.path.join(tmp, f"strace-{name}")
    r = subprocess.run(["strace", "-f", "-c", "-o", out, exe, "--root",
                        os.path.join(tmp, "root-" + name), "run", "--bundle", bundle,
                        f"count-{name}"], stdin=subprocess.DEVNULL, capture_output=True)
    if r.returncode != 0:
        return None
    for line in open(out):
        f = line.split()
        if f and f[-1] == "total":
            return int(f[3])
    return None

def counts():
    if not shutil.which("strace"):
        print("\n(strace missing: no syscall counts)")
        return
    print("\nsyscalls per `run /bin/true` (strace -f -c, all processes)")
    for n, exe in tools:
        print(f"{n:8} {syscalls(n, exe)}")

cfg = os.path.join(bundle, "config.json")
netns = open(cfg).read()
counts()
series("fresh network namespace")
shutil.copy(os.path.join(bundle, "config.hostnet.json"), cfg)
series("host network")
open(cfg, "w").write(netns)
PY

echo "ours: $OURS${BASE:+ (base: $BASE)}"
echo "crun: $(crun --version | head -1)"
echo "runc: $(runc --version | head -1)"
unshare -m --propagation private bash -c '
  if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
  exec python3 "$1/bench.py" "$2" "$3" "$1" "$4"' _ "$tmp" "$OURS" "$RUNS" "${BASE:-}"
