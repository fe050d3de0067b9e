"""ops/bench.sh cluster: three nodes on this machine, one PostgreSQL.

Starts nginx (the target), three `openseer serve` nodes of one cluster on a
fresh database, and two `openseer-worker` processes (one region, each
polling a different node), all on loopback. Then:

1. Failover: at FAILOVER_MONITORS monitors, kills a node with SIGKILL KILLS
   times, alternating the raft leader and a follower, and measures the
   largest gap between two stored checks of any monitor around each kill;
   the node is restarted and the shards rebalance before the next kill.
   Prints each gap, their median and maximum.
2. Throughput: raises the number of 1-second monitors step by step and, per
   step, over a window, prints checks per second stored and p50/p99 lateness
   of check start; the largest rate whose p99 stays under 250 ms (with 99%
   of the expected checks stored) is the sustained figure.

PostgreSQL: $DATABASE_URL's server (a database `openseer_bench_cluster`
is created fresh), through `psql`. Stdlib only.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import claim, create_monitor, figure, free_port, percentile, start_nginx, stop_all, wait_http

BIN = sys.argv[1]
ADMIN_URL = sys.argv[2]
STEPS = [int(s) for s in os.environ.get("STEPS", "500 1000 1500 2000 3000 4000").split()]
WINDOW = float(os.environ.get("WINDOW", "10"))
KILLS = int(os.environ.get("KILLS", "5"))
FAILOVER_MONITORS = int(os.environ.get("FAILOVER_MONITORS", "300"))
PASSWORD = "quiet harbor lantern benchmark"
SECRET = "bench-cluster-secret-0123456789"
DB = ADMIN_URL.rsplit("/", 1)[0] + "/openseer_bench_cluster"


def psql(url, sql):
    out = subprocess.run(["psql", url, "-At", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Node:
    def __init__(self, work, node_id):
        self.id = node_id
        self.http = f"127.0.0.1:{free_port()}"
        self.cluster = f"127.0.0.1:{free_port()}"
        self.dir = f"{work}/node{node_id}"
        self.log = f"{work}/node{node_id}.log"
        self.proc = None

    def base(self):
        return f"http://{self.http}"

    def start(self, join):
        args = [f"{BIN}/openseer", "serve", "--data-dir", self.dir, "--http", self.http,
                "--cluster", self.cluster, "--node-id", str(self.id), "--database-url", DB]
        if join:
            args += ["--join", join]
        env = {**os.environ, "RUST_LOG": "warn", "OPENSEER_CLUSTER_SECRET": SECRET}
        self.proc = subprocess.Popen(args, stdout=open(self.log, "a"), stderr=subprocess.STDOUT, env=env)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def state(self):
        req = urllib.request.Request(self.base() + "/cluster/v1/state", headers={"Authorization": f"Bearer {SECRET}"})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return json.loads(r.read())
        except Exception:
            return None


def wait_until(what, limit, check):
    end = time.time() + limit
    while time.time() < end:
        v = check()
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit(f"{what}: not within {limit} s")


def leader(nodes):
    for n in nodes:
        if n.proc and n.proc.poll() is None:
            s = n.state()
            if s and s["role"] == "leader":
                return n
    return None


def balanced(nodes):
    """Every live node owns shards, counts within one, in the leader's view."""
    lead = leader(nodes)
    if not lead:
        return False
    s = lead.state()
    counts = [v["shards"] for v in (s or {}).get("nodes", [])]
    return len(counts) == len(nodes) and min(counts) > 0 and max(counts) - min(counts) <= 1 and sum(counts) == 64


def largest_gap(a, b):
    """Largest gap between consecutive stored checks of any (monitor,
    region) scheduled in [a, b), counting the stretch to b as a gap too."""
    return int(psql(DB, f"""
        WITH r AS (SELECT monitor_id, region, scheduled_at FROM results_raw
                   WHERE outcome <> 'missed' AND scheduled_at >= {a} AND scheduled_at < {b}),
        g AS (SELECT scheduled_at - lag(scheduled_at) OVER (PARTITION BY monitor_id, region ORDER BY scheduled_at) AS gap FROM r
              UNION ALL SELECT {b} - max(scheduled_at) FROM r GROUP BY monitor_id, region)
        SELECT coalesce(max(gap), -1) FROM g"""))


def main():
    work = tempfile.mkdtemp(prefix="openseer-bench-cluster-")
    procs = []
    nodes = []
    try:
        psql(ADMIN_URL, "DROP DATABASE IF EXISTS openseer_bench_cluster WITH (FORCE)")
        psql(ADMIN_URL, "CREATE DATABASE openseer_bench_cluster")
        nginx, target = start_nginx(work)
        procs.append(nginx)

        nodes = [Node(work, i) for i in (1, 2, 3)]
        for n in nodes:
            n.start(None if n.id == 1 else nodes[0].http)
            wait_http(n.base() + "/readyz", limit=60)
        wait_until("three nodes balanced", 60, lambda: balanced(nodes))
        base = nodes[0].base()
        _, api_token, enroll = claim(base, nodes[0].log, PASSWORD)
        # One enrollment token serves both workers; each polls its own node.
        for i, n in enumerate(nodes[:2]):
            procs.append(subprocess.Popen(
                [f"{BIN}/openseer-worker", "--server", n.base(), "--region", "bench", "--enroll-token", enroll,
                 "--state-dir", f"{work}/worker{i}", "--concurrency", "1024"],
                stdout=open(f"{work}/worker{i}.log", "w"), stderr=subprocess.STDOUT,
                env={**os.environ, "RUST_LOG": "warn"}))

        created = 0

        def grow_to(n):
            nonlocal created
            while created < n:
                create_monitor(nodes[created % 3].base(), api_token, f"m{created}", target, ["bench"])
                created += 1

        # Failover first, at a load the cluster holds comfortably (the
        # throughput steps only add monitors).
        grow_to(FAILOVER_MONITORS)
        time.sleep(3)
        gaps = []
        for k in range(KILLS):
            lead = wait_until("a leader", 30, lambda: leader(nodes))
            role = "leader" if k % 2 == 0 else "follower"
            victim = lead if role == "leader" else next(n for n in nodes if n is not lead)
            time.sleep(3)
            killed_at = int(time.time() * 1000)
            victim.kill()
            time.sleep(10)
            until = int(time.time() * 1000) - 2000
            time.sleep(1)
            gap = largest_gap(killed_at - 3000, until)
            gaps.append(gap)
            figure(f"cluster_failover_kill{k + 1}_{role}_gap", gap, "ms")
            victim.start(None if victim.id == 1 else nodes[0].http)
            wait_http(victim.base() + "/readyz", limit=60)
            wait_until("rebalanced after the restart", 60, lambda: balanced(nodes))
        figure("cluster_failover_gap_median", int(statistics.median(gaps)), "ms")
        figure("cluster_failover_gap_max", max(gaps), "ms")

        best_rate, best_n = 0.0, 0
        for n in STEPS:
            grow_to(n)
            time.sleep(3)
            t0 = int(time.time() * 1000)
            time.sleep(WINDOW)
            t1 = int(time.time() * 1000)
            time.sleep(2)
            rows = psql(DB, f"SELECT started_at - scheduled_at FROM results_raw WHERE outcome <> 'missed' "
                            f"AND scheduled_at >= {t0} AND scheduled_at < {t1}")
            lateness = [int(x) for x in rows.split()] if rows else []
            expected = n * (t1 - t0) / 1000
            rate = len(lateness) / ((t1 - t0) / 1000)
            p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
            figure(f"cluster_n{n}_checks_per_second", f"{rate:.1f}", "checks/s")
            figure(f"cluster_n{n}_stored_fraction", f"{len(lateness) / expected:.4f}", "ratio")
            figure(f"cluster_n{n}_lateness_p50", f"{p50:.1f}", "ms")
            figure(f"cluster_n{n}_lateness_p99", f"{p99:.1f}", "ms")
            if p99 >= 250 or len(lateness) < 0.99 * expected:
                break
            best_rate, best_n = rate, n
        figure("cluster_sustained_checks_per_second_p99_under_250ms", f"{best_rate:.1f}", "checks/s")
        figure("cluster_sustained_monitors_p99_under_250ms", best_n, "monitors")

    finally:
        stop_all(procs + [n.proc for n in nodes if n.proc])
        if os.environ.get("KEEP"):
            print(f"# kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
        try:
            psql(ADMIN_URL, "DROP DATABASE IF EXISTS openseer_bench_cluster WITH (FORCE)")
        except Exception:
            pass


if __name__ == "__main__":
    main()
