#!/usr/bin/env bash
# DNS server throughput and latency: ours (crates/dns, example dns-serve, release) against
# dnsmasq (names from a hosts file) and aardvark-dns (podman's), on the same names, with the
# same upstream stub and the same load generator (dnsperf).
#
#   bash bench/dns.sh   # ROUNDS=3 DURATION=3 (s per run) RATE=2000 (q/s, latency runs)
#                       # SERVICES=50 THREADS=2 (our tokio workers)
#                       # DNS_SERVE=path/to/dns-serve (skips the release build)
#                       # BASE=path/to/older/dns-serve (a fifth server, "base": before/after
#                       #   figures of one change in the same interleaved run)
#                       # PERF=0 skips the perf stat pass (instructions and cycles per query)
#
# Two kinds of names, each asked from one client address that every server knows as a
# container (127.0.1.10):
#   project   `web` (3 replicas) and svc-1..svc-N, answered from the server's own records;
#   forwarded fwd-*.example.test, sent on to the upstream stub (dnsmasq --address, TTL 300,
#             no cache of its own).
# Ours and dnsmasq cache forwarded answers (4096 entries each; after the first pass every
# forwarded name is a hit); "ours-nocache" is ours with --cache-size 0, every query a
# round trip to the stub, as aardvark-dns (no cache) does.
#
# For each server and kind: queries/s at saturation (dnsperf, 4 clients, 64 outstanding)
# with the server's work per query counted by perf stat in the same run (CPU time, system
# calls, context switches; instructions and cycles where the machine has a PMU), then
# p50/p99 latency at a fixed rate (RATE q/s, per-query times from dnsperf -v); the servers
# take turns, ROUNDS times, and each figure is the median of its rounds. On a shared
# machine q/s and latency move with the others' load; CPU time per query much less so.
# Ratios are theirs/ours for q/s (below 1: ours is faster) and theirs/ours for latency
# (above 1: ours is faster).
#
# Everything runs in a private network namespace (unshare -n) holding only its own
# loopback: no query can reach the host's resolver or leave the machine. Installs from apt
# when missing: dnsperf, dnsmasq-base, aardvark-dns. No test asserts a time; 2 shared cores,
# so compare runs made back to back.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${DNS_BENCH_INSIDE:-}" != 1 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  missing=()
  for p in dnsperf dnsmasq-base aardvark-dns; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == *"install ok installed"* ]] || missing+=("$p")
  done
  if ((${#missing[@]})); then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [[ -z "${DNS_SERVE:-}" ]]; then
    cargo build --release -q -p compose-dns --example dns-serve
    target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    export DNS_SERVE="$target/release/examples/dns-serve"
  fi
  exec env DNS_BENCH_INSIDE=1 unshare -n -- bash "$0" "$@"
fi

DURATION="${DURATION:-3}"
ROUNDS="${ROUNDS:-3}"
RATE="${RATE:-2000}"
SERVICES="${SERVICES:-50}"
THREADS="${THREADS:-2}"
AARDVARK="${AARDVARK:-/usr/lib/podman/aardvark-dns}"
CLIENT=127.0.1.10
STUB=127.0.0.53

ip link set lo up
ip addr add "$STUB/32" dev lo

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -f "$work/aardvark/aardvark.pid" ]]; then kill "$(cat "$work/aardvark/aardvark.pid")" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The names: hosts file (dnsmasq, ours) and aardvark's network file, from one list.
{
  for r in 1 2 3; do echo "10.1.0.$((r + 1)) web"; done
  for i in $(seq 1 "$SERVICES"); do echo "10.0.$((i / 200)).$((i % 200 + 2)) svc-$i"; done
} > "$work/hosts"
mkdir -p "$work/aardvark"
{
  echo "127.0.0.1"
  n=0
  while read -r addr name; do
    n=$((n + 1))
    echo "c$n $addr  $name"
  done < "$work/hosts"
  echo "client $CLIENT  client $STUB"
} > "$work/aardvark/bench"
{ echo "web A"; for i in $(seq 1 "$SERVICES"); do echo "svc-$i A"; done; } > "$work/project.txt"
for i in $(seq 1 200); do echo "fwd-$i.example.test A"; done > "$work/forwarded.txt"
echo "nameserver $STUB" > "$work/resolv.conf"

# The upstream stub every server forwards to.
dnsmasq -k --conf-file=/dev/null --user=root --pid-file= --no-resolv --no-hosts \
  --bind-interfaces --listen-address="$STUB" --port=53 \
  --address=/example.test/198.51.100.7 --local-ttl=300 --cache-size=0 2>"$work/stub.log" &
pids+=($!)

"$DNS_SERVE" --listen 127.0.0.1:5300 --resolv-conf "$work/resolv.conf" \
  --hosts "$work/hosts" --client "$CLIENT" --threads "$THREADS" 2>"$work/ours.log" &
pids+=($!)
"$DNS_SERVE" --listen 127.0.0.1:5303 --resolv-conf "$work/resolv.conf" --cache-size 0 \
  --hosts "$work/hosts" --client "$CLIENT" --threads "$THREADS" 2>"$work/ours-nocache.log" &
pids+=($!)
dnsmasq -k --conf-file=/dev/null --user=root --pid-file= --no-resolv --no-hosts \
  --addn-hosts="$work/hosts" --bind-interfaces --listen-address=127.0.0.1 --port=5301 \
  --server="$STUB" --cache-size=4096 2>"$work/dnsmasq.log" &
pids+=($!)
servers=("ours:5300" "ours-nocache:5303" "dnsmasq:5301")
declare -A PID=([ours]=${pids[1]} [ours-nocache]=${pids[2]} [dnsmasq]=${pids[3]})
if [[ -n "${BASE:-}" ]]; then
  "$BASE" --listen 127.0.0.1:5304 --resolv-conf "$work/resolv.conf" \
    --hosts "$work/hosts" --client "$CLIENT" --threads "$THREADS" 2>"$work/base.log" &
  pids+=($!)
  PID[base]=$!
  servers+=("base:5304")
fi
if [[ -x "$AARDVARK" ]]; then
  "$AARDVARK" --config "$work/aardvark" -p 5302 run >"$work/aardvark.log" 2>&1 &
  pids+=($!)
  servers+=("aardvark-dns:5302")
  PID[aardvark-dns]=$!
else
  echo "aardvark-dns not found at $AARDVARK: left out" >&2
fi

# Waits until `port` answers the first name of `file` with NOERROR.
ready() {
  local port="$1" file="$2"
  for _ in $(seq 1 50); do
    if head -n1 "$file" | dnsperf -s 127.0.0.1 -p "$port" -a "$CLIENT" -n 1 -t 1 -v 2>/dev/null | grep -q '^> NOERROR'; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# A saturating run: "q/s cpu sysc csw insn cyc", the last five per query, from perf stat
# on the server's process (user and kernel) during the run: the work per query, which the
# machine's load changes little (CPU time, system calls, context switches; instructions and
# cycles where there is a PMU: a VM often has none, n/a). "n/a" everywhere unless every
# answer was NOERROR.
throughput() {
  local name="$1" port="$2" file="$3" out pid perf_pid="" done_q
  pid="${PID[$name]}"
  if [[ "$name" == aardvark-dns && -f "$work/aardvark/aardvark.pid" ]]; then pid="$(cat "$work/aardvark/aardvark.pid")"; fi
  rm -f "$work/perf.out"
  if [[ "${PERF:-1}" != 0 ]] && command -v perf >/dev/null; then
    perf stat -x, -e task-clock,raw_syscalls:sys_enter,context-switches,instructions,cycles -p "$pid" -o "$work/perf.out" &
    perf_pid=$!
    sleep 0.2
  fi
  out="$(dnsperf -s 127.0.0.1 -p "$port" -a "$CLIENT" -d "$file" -l "$DURATION" -c 4 -q 64 2>&1)"
  if [[ -n "$perf_pid" ]]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
  if ! grep -q 'Response codes: *NOERROR [0-9]* (100.00%)' <<<"$out"; then
    echo "$out" | grep -E 'Response codes|lost' >&2
    echo "n/a n/a n/a n/a n/a n/a"
    return
  fi
  done_q="$(awk '/Queries completed:/ {print $3}' <<<"$out")"
  per() { [[ -f "$work/perf.out" ]] || { echo n/a; return; }
    awk -F, -v q="$done_q" -v ev="$1" -v scale="$2" -v fmt="$3" \
      '$3 ~ ev && $1 ~ /^[0-9]/ && q > 0 {printf fmt, $1 * scale / q; found = 1} END {if (!found) print "n/a"}' "$work/perf.out"; }
  echo "$(awk '/Queries per second:/ {printf "%.0f", $4}' <<<"$out")" \
    "$(per '^task-clock' 1000 '%.2f')" "$(per 'sys_enter' 1 '%.2f')" "$(per '^context-switches' 1 '%.3f')" \
    "$(per '^instructions' 1 '%.0f')" "$(per '^cycles' 1 '%.0f')"
}

# "p50 p99" in ms at RATE q/s.
latency() {
  local port="$1" file="$2"
  dnsperf -s 127.0.0.1 -p "$port" -a "$CLIENT" -d "$file" -l "$DURATION" -Q "$RATE" -c 4 -v 2>/dev/null |
    awk '/^> NOERROR/ {print $NF * 1000}' | sort -n |
    awk '{v[NR] = $1} END { if (NR == 0) { print "n/a n/a"; exit }
         i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1;
         printf "%.3f %.3f", v[i50], v[i99] }'
}

# Rounds interleave the servers, and each figure is the median over rounds: on a shared
# machine the load moves, and a server measured alone in a busy minute would look slow.
median() { tr ' ' '\n' | awk '$1 != "" && $1 != "n/a"' | sort -g | awk '{v[NR] = $1} END { if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'; }
declare -A QPS P50 P99 OK CPU SYSC CSW INSN CYC
for entry in "${servers[@]}"; do
  name="${entry%%:*}" port="${entry##*:}"
  for kind in project forwarded; do
    if ready "$port" "$work/$kind.txt"; then OK[$name.$kind]=1; else
      echo "$name does not answer $kind names: left out" >&2
    fi
  done
done
for round in $(seq 1 "$ROUNDS"); do
  for kind in project forwarded; do
    for entry in "${servers[@]}"; do
      name="${entry%%:*}" port="${entry##*:}" k="$name.$kind"
      [[ -n "${OK[$k]:-}" ]] || continue
      read -r qps cpu sysc csw insn cyc <<<"$(throughput "$name" "$port" "$work/$kind.txt")"
      QPS[$k]+=" $qps" CPU[$k]+=" $cpu" SYSC[$k]+=" $sysc" CSW[$k]+=" $csw" INSN[$k]+=" $insn" CYC[$k]+=" $cyc"
      read -r p50 p99 <<<"$(latency "$port" "$work/$kind.txt")"
      P50[$k]+=" $p50" P99[$k]+=" $p99"
    done
  done
done
for k in "${!QPS[@]}"; do
  QPS[$k]="$(median <<<"${QPS[$k]}")" P50[$k]="$(median <<<"${P50[$k]}")" P99[$k]="$(median <<<"${P99[$k]}")"
  CPU[$k]="$(median <<<"${CPU[$k]}")" SYSC[$k]="$(median <<<"${SYSC[$k]}")" CSW[$k]="$(median <<<"${CSW[$k]}")"
  INSN[$k]="$(median <<<"${INSN[$k]}")" CYC[$k]="$(median <<<"${CYC[$k]}")"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
printf '\n%-13s %-9s %10s %9s %9s %10s %10s %8s %10s %8s %8s %8s %8s\n' server names "q/s" "p50 ms" "p99 ms" "q/s ratio" "p50 ratio" "cpu us/q" "cpu ratio" "sysc/q" "csw/q" "insn/q" "cyc/q"
for entry in "${servers[@]}"; do
  name="${entry%%:*}"
  for kind in project forwarded; do
    k="$name.$kind"
    printf '%-13s %-9s %10s %9s %9s %10s %10s %8s %10s %8s %8s %8s %8s\n' "$name" "$kind" "${QPS[$k]:-n/a}" "${P50[$k]:-n/a}" "${P99[$k]:-n/a}" \
      "$(ratio "${QPS[$k]:-}" "${QPS[ours.$kind]:-}")" "$(ratio "${P50[$k]:-}" "${P50[ours.$kind]:-}")" \
      "${CPU[$k]:-n/a}" "$(ratio "${CPU[$k]:-}" "${CPU[ours.$kind]:-}")" "${SYSC[$k]:-n/a}" "${CSW[$k]:-n/a}" \
      "${INSN[$k]:-n/a}" "${CYC[$k]:-n/a}"
  done
done
echo
echo "ratios: theirs / ours (q/s below 1, p50 and cpu above 1: ours is faster); medians of $ROUNDS interleaved rounds of ${DURATION}s runs; RATE=$RATE q/s for latency; $THREADS tokio workers"
