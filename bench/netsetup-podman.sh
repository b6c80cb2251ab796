#!/usr/bin/env bash
# The anchor of netsetup.sh: podman's per-container network cost with netavark (and
# aardvark-dns for the network's names), measured as the difference between
# `podman run --rm --network <a bridge network> img true` and the same with `--network none`,
# interleaved, RUNS times each after a warm-up. Everything podman makes lives in a temp dir
# (storage, run root, network configs) on a network of its own (10.213.77.0/24); afterwards the
# bridge, netavark's iptables chains, any aardvark-dns of ours and the ip_forward setting are
# restored, even on failure. Needs root, podman and busybox-static. No traffic leaves the host.
#
# Env: RUNS (default 20).
set -euo pipefail
RUNS="${RUNS:-20}"
command -v podman >/dev/null || { echo "netsetup-podman: podman is not installed" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "netsetup-podman: needs busybox-static" >&2; exit 1; }

work=$(mktemp -d /tmp/netsetup-podman.XXXXXX)
fwd=$(sysctl -n net.ipv4.ip_forward)
bridge=
P=(podman --root "$work/root" --runroot "$work/run" --network-config-dir "$work/net"
  --cgroup-manager cgroupfs --events-backend none --runtime runc)

drop_netavark_chains() {
  local table chain
  for table in filter nat; do
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
      # Jumps into it first (from any chain), then the chain itself.
      iptables -t "$table" -S 2>/dev/null | awk -v c="$chain" '$1 == "-A" && $0 ~ ("-j " c "( |$)") {print}' |
        while read -r rule; do
          # The rule as iptables -S prints it, quotes included: eval keeps a quoted comment whole.
          eval "iptables -t $table ${rule/-A/-D}" 2>/dev/null || true
        done
    done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}

cleanup() {
  "${P[@]}" rm -af >/dev/null 2>&1 || true
  "${P[@]}" network rm -f benchnet >/dev/null 2>&1 || true
  pkill -f "aardvark-dns --config $work" 2>/dev/null || true
  pkill -f "aardvark-dns.*$work" 2>/dev/null || true
  [ -n "$bridge" ] && ip link del "$bridge" 2>/dev/null || true
  drop_netavark_chains
  sysctl -qw net.ipv4.ip_forward="$fwd" || true
  umount -R "$work/root" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

# The image: busybox-static with `true`, imported from a tar.
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/true"
ln -s busybox "$work/rootfs/bin/sh"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"${P[@]}" import -q "$work/rootfs.tar" localhost/netbench:1 >/dev/null
"${P[@]}" network create --subnet 10.213.77.0/24 benchnet >/dev/null
bridge=$("${P[@]}" network inspect benchnet --format '{{.NetworkInterface}}')

ms() { date +%s%N; }
run_one() { # network
  local t0 t1
  t0=$(ms)
  "${P[@]}" run --rm --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --network "$1" \
    localhost/netbench:1 /bin/true >/dev/null 2> >(grep -v "failed to connect to syslog" >&2)
  t1=$(ms)
  echo $(((t1 - t0) / 1000))
}
run_one none >/dev/null
run_one benchnet >/dev/null
: >"$work/none"
: >"$work/bridge"
for _ in $(seq "$RUNS"); do
  run_one none >>"$work/none"
  run_one benchnet >>"$work/bridge"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
n=$(median "$work/none")
b=$(median "$work/bridge")
awk -v n="$n" -v b="$b" -v runs="$RUNS" 'BEGIN {
  printf "podman run --network none:     median %.1f ms (%d runs)\n", n / 1000, runs
  printf "podman run --network benchnet: median %.1f ms\n", b / 1000
  printf "netavark + aardvark-dns per container (difference): %.1f ms\n", (b - n) / 1000
}'
