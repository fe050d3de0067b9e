#!/usr/bin/env bash
# Benchmarks. Each prints one figure per line as `name: value unit`.
#   ops/bench.sh dispatch   one node (SQLite) + one worker process, N monitors
#                           at 1 s against local nginx, N raised until p99
#                           lateness of check start passes 250 ms.
#   ops/bench.sh worker     the checker alone against local nginx (fresh
#                           connection per check), and wrk with
#                           `Connection: close` against the same target as the
#                           ceiling. SECONDS=10 CONCURRENCY=64.
#   ops/bench.sh dashboard  one node on SQLite: p95 of the overview with 10,000
#                           monitors and of a monitor page with 90 days of
#                           10-second data; acknowledgement-to-live-event
#                           delay p50/p95. REQUESTS=200.
#   ops/bench.sh storage    PostgreSQL ($DATABASE_URL, else 127.0.0.1:5432):
#                           ingest rate through Ingest with acks after commit;
#                           p95 of a monitor page's queries over 90 days of
#                           10-second data; bytes per million raw results and
#                           per monitor-day of rollups. INGEST_SECONDS=15.
#   ops/bench.sh alerts     one node (SQLite) + one worker + nginx + a local
#                           webhook receiver: MONITORS=1000 one-second monitors
#                           go down together, then recover: first failing tick
#                           to notification received (p50/p95/max),
#                           notifications per second, duplicates, check
#                           lateness p99 during the storm.
#   ops/bench.sh cluster    3 nodes (one cluster) on PostgreSQL ($DATABASE_URL,
#                           else 127.0.0.1:5432) + 2 workers + nginx: failover
#                           gap over KILLS=5 kills (leader and follower, median
#                           and max), then checks per second sustained with
#                           p99 lateness under 250 ms. FAILOVER_MONITORS=300.
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
  dashboard)
    cargo build --release --locked --example bench_dashboard -p openseer-node >&2
    exec "$CARGO_TARGET_DIR/release/examples/bench_dashboard" "${REQUESTS:-200}"
    ;;
  storage)
    cargo build --release --locked --example bench_storage -p openseer-node >&2
    exec "$CARGO_TARGET_DIR/release/examples/bench_storage" \
      "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" "${INGEST_SECONDS:-15}"
    ;;
  cluster)
    need nginx nginx
    need psql postgresql-client
    cargo build --release --bins --locked >&2
    exec python3 ops/bench/cluster.py "$CARGO_TARGET_DIR/release" \
      "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    ;;
  alerts)
    need nginx nginx
    cargo build --release --bins --locked >&2
    exec python3 ops/bench/alerts.py "$CARGO_TARGET_DIR/release"
    ;;
  dispatch)
    need nginx nginx
    cargo build --release --bins --locked >&2
    exec python3 ops/bench/dispatch.py "$CARGO_TARGET_DIR/release"
    ;;
  worker)
    need nginx nginx
    need wrk wrk
    cargo build --release --locked --example bench_checks -p openseer-worker >&2
    SECONDS_RUN="${SECONDS_RUN:-10}"
    CONCURRENCY="${CONCURRENCY:-64}"
    work=$(mktemp -d /tmp/openseer-bench-worker.XXXXXX)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$work/logs"
    cat > "$work/nginx.conf" <<CONF
worker_processes 1;
error_log $work/logs/error.log;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$port; location / { return 200 "ok
"; } }
}
CONF
    nginx -p "$work" -c "$work/nginx.conf"
    trap 'nginx -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null; rm -rf "$work"' EXIT
    sleep 0.5
    url="http://127.0.0.1:$port/health"
    "$CARGO_TARGET_DIR/release/examples/bench_checks" "$url" "$SECONDS_RUN" "$CONCURRENCY" | tee "$work/worker.txt"
    rate=$(wrk -t1 -c"$CONCURRENCY" -d"${SECONDS_RUN}s" -H 'Connection: close' "$url" | awk '/Requests\/sec/ {print $2}')
    echo "wrk_connection_close_requests_per_second: ${rate%.*} requests/s"
    worker=$(awk '/worker_checks_per_second/ {print $2}' "$work/worker.txt")
    python3 -c "print(f'worker_fraction_of_wrk: {$worker / $rate:.2f} ratio')"
    ;;
  *)
    echo "usage: ops/bench.sh dispatch|worker|storage|dashboard|cluster" >&2
    exit 2
    ;;
esac
