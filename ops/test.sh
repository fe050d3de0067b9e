#!/usr/bin/env bash
# Every test of the workspace: formatting, lints, unit and integration tests.
# Sets up what the tests need (see "Tests" in README.md):
#   - Node.js/npm for the embedded htmx assets (web/build.rs runs `npm ci`);
#   - promtool (Debian's prometheus package) to check the /metrics output;
#   - chromium and chromium-driver for the dashboard's browser tests;
#   - haproxy, the load balancer in front of the cluster tests' nodes;
#   - PostgreSQL: $DATABASE_URL, else a server answering on 127.0.0.1:5432,
#     else a throwaway cluster started with initdb on a free port (PostgreSQL
#     is installed with apt-get when missing and we are root). Exported as
#     DATABASE_URL for the suites that use it.
# A CARGO_TARGET_DIR outside the checkout keeps repeat runs fast.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/openseer-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
log() { printf '\n== %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing $*; install it (as root: apt-get install -y $*)" >&2
    return 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

log "tools"
command -v npm >/dev/null || apt_install nodejs npm
# promtool checks the /metrics exposition (Debian's prometheus package).
command -v promtool >/dev/null || apt_install --no-install-recommends prometheus
export OPENSEER_REQUIRE_PROMTOOL=1
# The dashboard's browser tests drive Debian's chromium through chromedriver.
{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || apt_install chromium chromium-driver
export OPENSEER_REQUIRE_BROWSER=1
# The cluster tests put Debian's HAProxy in front of the nodes.
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || apt_install haproxy
export OPENSEER_REQUIRE_HAPROXY=1
# The store and rollup suites run on PostgreSQL too; here they must not skip it.
export OPENSEER_REQUIRE_POSTGRES=1
cargo --version
npm --version

log "PostgreSQL"
PG_STARTED=""
cleanup() {
  if [ -n "$PG_STARTED" ]; then
    su postgres -c "$PG_BIN/pg_ctl -D '$PG_STARTED' -m immediate stop" >/dev/null 2>&1 || true
    rm -rf "$PG_STARTED"
  fi
}
trap cleanup EXIT
pg_answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if [ -n "${DATABASE_URL:-}" ]; then
  echo "using \$DATABASE_URL"
elif pg_answers 127.0.0.1 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  echo "using the server on 127.0.0.1:5432"
else
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$PG_BIN" ]; then
    apt_install postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  PG_STARTED=$(mktemp -d /tmp/openseer-pg.XXXXXX)
  chown postgres "$PG_STARTED" 2>/dev/null || true
  RUN="sh -c"
  [ "$(id -u)" -eq 0 ] && RUN="su postgres -c"
  $RUN "$PG_BIN/initdb -D '$PG_STARTED' -U postgres --auth=trust" >/dev/null
  $RUN "$PG_BIN/pg_ctl -D '$PG_STARTED' -o '-p $PORT -k $PG_STARTED -c listen_addresses=127.0.0.1' -w start" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
  echo "started a throwaway cluster on port $PORT"
fi

log "format"
cargo fmt --all -- --check

log "lint"
python3 ops/modcycles.py
cargo clippy --workspace --all-targets --locked -- -D warnings

log "tests"
cargo test --workspace --locked 2>&1 | tee /tmp/openseer-test.log
grep -q '^test result: ok' /tmp/openseer-test.log
