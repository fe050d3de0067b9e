#!/usr/bin/env bash
# Benchmarks. Each prints one figure per line as `name: value unit`.
#   ops/bench.sh dispatch   one node (SQLite) + one worker process, N monitors
#                           at 1 s against local nginx, N raised until p99
#                           lateness of check start passes 250 ms.
# Options through the environment: STEPS="250 500 1000" WINDOW=10 (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/openseer-target}"

need() {
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "$1 is missing: apt-get install $2" >&2
    exit 1
  fi
}

case "${1:-}" in
  dispatch)
    need nginx nginx
    cargo build --release --bins --locked >&2
    exec python3 ops/bench/dispatch.py "$CARGO_TARGET_DIR/release"
    ;;
  *)
    echo "usage: ops/bench.sh dispatch" >&2
    exit 2
    ;;
esac
