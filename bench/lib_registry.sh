# Shared by pull.sh and unpack.sh: apt installs, the release build, a docker-registry on
# 127.0.0.1, timing and the result table. Sourced, not run.

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

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry DIR PORT: a registry storing into DIR/storage; its pid in REG_PID.
start_registry() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
  secret: bench
YAML
  /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "registry did not start: $(cat "$dir/log")" >&2
  return 1
}

stop_registry() {
  if [[ -n "${REG_PID:-}" ]]; then
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
    REG_PID=
  fi
}

# secs CMD...: runs CMD (output to $WORK/cmd.log), prints its wall time in seconds.
secs() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >>"$WORK/cmd.log" 2>&1 || { echo "failed: $* (see $WORK/cmd.log)" >&2; tail -5 "$WORK/cmd.log" >&2; return 1; }
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}

# median of the arguments.
median() {
  python3 -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.3f}")' "$@"
}

compose_bin() {
  if [[ -z "${COMPOSE_BIN:-}" ]]; then
    cargo build --release -q -p compose-cli --bin compose -p compose-runtime --bin compose-runtime-shim
    COMPOSE_BIN=$PWD/target/release/compose
  fi
}
