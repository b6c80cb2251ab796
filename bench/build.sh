#!/usr/bin/env bash
# Builds of the same 6-step Dockerfile on the local busybox base, ours against buildah
# (Debian's, storage in a temp dir), in one run: a cold build (no cache) and a fully cached
# rebuild, RUNS times each, interleaved. Prints medians and buildah's time over ours (above
# 1: ours is faster). Needs root; installs buildah and busybox-static when missing. Sends no
# traffic: the base comes from scripts/base-images' archive, RUN steps have no network.
#
#   sudo bash bench/build.sh        # RUNS=5
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
command -v buildah >/dev/null || { apt-get update -qq; apt-get install -y -qq buildah >/dev/null; }
cargo build --release -q -p compose-cli --bin compose -p compose-runtime --bin compose-runtime-shim
OURS="$PWD/target/release/compose"
work=$(mktemp -d)
cleanup() {
  buildah --root "$work/b-root" --runroot "$work/b-run" --storage-driver vfs rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export COMPOSE_DATA_ROOT="$work/data"
COMPOSE_BIN=$OURS scripts/base-images >/dev/null
# The same base for buildah: saved by ours as a docker archive.
"$OURS" image save -o "$work/busybox.tar" busybox:latest
B=(buildah --root "$work/b-root" --runroot "$work/b-run" --storage-driver vfs)
"${B[@]}" pull -q "docker-archive:$work/busybox.tar" >/dev/null
"${B[@]}" tag "$("${B[@]}" images -q | head -n1)" localhost/busybox:latest

ctx="$work/ctx"
mkdir -p "$ctx/app"
for i in $(seq 1 200); do echo "file $i" > "$ctx/app/f$i.txt"; done
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV GREETING=hello
WORKDIR /srv
COPY app/ /srv/app/
RUN cat /srv/app/*.txt | wc -l > /srv/count && echo "$GREETING" > /srv/greeting
RUN ls -R /srv > /srv/listing
CMD ["cat", "/srv/count"]
DOCKERFILE
sed 's#^FROM busybox#FROM localhost/busybox:latest#' "$ctx/Dockerfile" > "$ctx/Dockerfile.buildah"
cat > "$ctx/compose.yaml" <<'YAML'
services:
  app:
    build: .
YAML

# crun 1.8 refuses this cgroup v1 hybrid host (see DESIGN.md): buildah runs RUN with runc.
BUD=(--runtime "$(command -v runc)" --layers --network none)
declare -A T
run() { # name, command...: a failed run stops the benchmark with its output
  local name=$1; shift
  local t0 t1 out
  t0=$(date +%s%N)
  if ! out=$("$@" 2>&1); then echo "$name failed: $out" >&2; exit 1; fi
  t1=$(date +%s%N)
  T[$name]+="$(( (t1 - t0) / 1000000 )) "
}
for _ in $(seq "$RUNS"); do
  run ours_cold "$OURS" --project-directory "$ctx" -f "$ctx/compose.yaml" build --no-cache
  run ours_cached "$OURS" --project-directory "$ctx" -f "$ctx/compose.yaml" build
  run buildah_cold "${B[@]}" bud "${BUD[@]}" --no-cache -f "$ctx/Dockerfile.buildah" -t app "$ctx"
  run buildah_cached "${B[@]}" bud "${BUD[@]}" -f "$ctx/Dockerfile.buildah" -t app "$ctx"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-8s %12s %12s %8s\n' build ours_ms buildah_ms ratio
for kind in cold cached; do
  o=$(echo "${T[ours_$kind]}" | median)
  b=$(echo "${T[buildah_$kind]}" | median)
  printf '%-8s %12s %12s %8s\n' "$kind" "$o" "$b" "$(python3 -c "print(f'{$b/max($o,1):.1f}x')")"
done
