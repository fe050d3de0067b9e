#!/usr/bin/env bash
# A whole OpenSeer cluster on this machine's loopback, for trying it out:
#   - PostgreSQL: $DATABASE_URL's server, else one answering on
#     127.0.0.1:5432, else (or with CLUSTER_PG=own) a throwaway server
#     started here with initdb on a free port and removed at the end;
#     the database openseer_cluster is created fresh;
#   - 3 nodes (HTTP 127.0.0.1:8081-8083, node-to-node 127.0.0.1:9091-9093);
#   - HAProxy (Debian's package) on 127.0.0.1:8080, health-checking /readyz;
#   - 2 workers, regions eu and us, pointed at HAProxy.
# It claims the instance (admin account printed below), prints the
# addresses, and stops everything it started on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/openseer-target}"
LB_PORT="${LB_PORT:-8080}"
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || {
  echo "haproxy is missing: apt-get install -y haproxy" >&2; exit 1; }
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

echo "== building (release)"
cargo build --release --locked --bin openseer --bin openseer-worker
BIN="$CARGO_TARGET_DIR/release"

RUN=$(mktemp -d /tmp/openseer-cluster.XXXXXX)
PIDS=()
PG_DIR=""
stop() {
  # Piped into tee, Ctrl-C ends tee first: writing would then kill this
  # script with SIGPIPE before it stopped what it started.
  trap '' PIPE INT TERM
  { echo; echo "== stopping"; } 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DIR" ]; then
    as_pg "$PG_BIN/pg_ctl -D '$PG_DIR/data' -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  { echo "stopped; logs were in $RUN"; } 2>/dev/null || true
}
trap stop EXIT INT TERM

# initdb refuses to run as root: as root, the server runs as postgres.
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sh -c "$1"; fi; }
pg_answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if [ -n "${DATABASE_URL:-}" ] && [ "${CLUSTER_PG:-}" != own ]; then
  ADMIN_URL="$DATABASE_URL"
elif pg_answers 127.0.0.1 5432 && [ "${CLUSTER_PG:-}" != own ]; then
  ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
else
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$PG_BIN" ] || { echo "PostgreSQL is not installed: apt-get install -y postgresql" >&2; exit 1; }
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  PG_DIR=$(mktemp -d /tmp/openseer-cluster-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres "$PG_DIR"
  echo "== starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_pg "$PG_BIN/initdb -D '$PG_DIR/data' -U postgres --auth=trust" >/dev/null
  as_pg "$PG_BIN/pg_ctl -D '$PG_DIR/data' -l '$PG_DIR/log' -o '-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1' -w start" >/dev/null
  ADMIN_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
fi
DB_URL="${ADMIN_URL%/*}/openseer_cluster"
psql "$ADMIN_URL" -q -c "DROP DATABASE IF EXISTS openseer_cluster WITH (FORCE)" -c "CREATE DATABASE openseer_cluster" \
  || { echo "PostgreSQL at $ADMIN_URL does not answer; set DATABASE_URL" >&2; exit 1; }


export OPENSEER_CLUSTER_SECRET
# HAProxy below runs on this host: its X-Forwarded-For names the client.
export OPENSEER_TRUSTED_PROXIES=127.0.0.1
OPENSEER_CLUSTER_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
for i in 1 2 3; do
  JOIN=()
  [ "$i" -gt 1 ] && JOIN=(--join 127.0.0.1:8081)
  "$BIN/openseer" serve --data-dir "$RUN/node$i" --http "127.0.0.1:808$i" \
    --cluster "127.0.0.1:909$i" --node-id "$i" --database-url "$DB_URL" "${JOIN[@]}" \
    > "$RUN/node$i.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:808$i/readyz" >/dev/null && break
    sleep 0.2
  done
done

SERVERS=$(printf '    server n%s 127.0.0.1:808%s check\n' 1 1 2 2 3 3)
sed -e "s/@BIND@/127.0.0.1:$LB_PORT/" ops/haproxy/openseer.cfg.in \
  | awk -v servers="$SERVERS" '{ if ($0 == "@SERVERS@") print servers; else print }' > "$RUN/haproxy.cfg"
"$HAPROXY" -f "$RUN/haproxy.cfg" -db > "$RUN/haproxy.log" 2>&1 &
PIDS+=($!)
LB="http://127.0.0.1:$LB_PORT"
for _ in $(seq 1 50); do curl -sf "$LB/readyz" >/dev/null && break; sleep 0.2; done

# Claim the instance through the load balancer with the one-time link
# node 1 printed, then mint an enrollment token for the workers.
SETUP=$(grep -o 'setup?token=osts_[0-9a-f]*' "$RUN/node1.log" | head -n1)
JAR="$RUN/cookies"
csrf() { grep -o 'name="_csrf" value="[^"]*"' | head -n1 | sed 's/.*value="//; s/"$//'; }
PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
TOKEN=${SETUP#setup?token=}
C=$(curl -sf -c "$JAR" -b "$JAR" "$LB/$SETUP" | csrf)
curl -sf -o /dev/null -c "$JAR" -b "$JAR" "$LB/setup" --data-urlencode "_csrf=$C" \
  --data-urlencode "token=$TOKEN" --data-urlencode "org_name=Local cluster" \
  --data-urlencode "name=Admin" --data-urlencode "email=admin@example.com" \
  --data-urlencode "password=$PASSWORD"
C=$(curl -sf -c "$JAR" -b "$JAR" "$LB/workers" | csrf)
ENROLL=$(curl -sf -c "$JAR" -b "$JAR" "$LB/workers/enrollment-tokens" \
  --data-urlencode "_csrf=$C" --data-urlencode "name=cluster.sh" | grep -o 'ostc_[0-9a-f]*' | head -n1)

for region in eu us; do
  "$BIN/openseer-worker" --server "$LB" --region "$region" --enroll-token "$ENROLL" \
    --state-dir "$RUN/worker-$region" --name "worker-$region" > "$RUN/worker-$region.log" 2>&1 &
  PIDS+=($!)
done

cat <<INFO

  OpenSeer cluster is running.
  Dashboard (through HAProxy): $LB/   sign in as admin@example.com / $PASSWORD
  Nodes: http://127.0.0.1:8081  http://127.0.0.1:8082  http://127.0.0.1:8083
         (node-to-node 127.0.0.1:9091-9093; cluster page: $LB/cluster)
  Workers: eu and us, through HAProxy
  PostgreSQL: $DB_URL
  Logs and data: $RUN
  Try: kill -9 one node's pid (${PIDS[0]} ${PIDS[1]} ${PIDS[2]}) and watch the dashboard.
  Ctrl-C stops everything started here.

INFO
wait
