"""ops/bench.sh dispatch: how many 1-second monitors one node and one worker hold.

Starts nginx (the target), `openseer serve` and `openseer-worker` as separate
processes on loopback, claims the instance over HTTP like a browser would,
then raises the number of monitors step by step. For each step it measures,
over a window of ticks: checks per second stored, p50/p99 lateness of check
start against the scheduled tick, CPU seconds of node and worker per 1000
checks, and their RSS. Stdlib only.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from benchlib import claim, cpu_seconds, create_monitor, figure, free_port, percentile, rss_mib, start_nginx, stop_all, wait_http

BIN = sys.argv[1]
STEPS = [int(s) for s in os.environ.get("STEPS", "500 1000 2000 4000 5000 6000 8000").split()]
WINDOW = float(os.environ.get("WINDOW", "10"))
PASSWORD = "quiet harbor lantern benchmark"


def main():
    work = tempfile.mkdtemp(prefix="openseer-bench-")
    procs = []
    try:
        nginx, target = start_nginx(work)
        procs.append(nginx)

        node_port = free_port()
        base = f"http://127.0.0.1:{node_port}"
        node_log = open(f"{work}/node.log", "w")
        node = subprocess.Popen(
            [f"{BIN}/openseer", "serve", "--data-dir", f"{work}/data", "--http", f"127.0.0.1:{node_port}"],
            stdout=node_log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )
        procs.append(node)
        wait_http(base + "/healthz")
        _, api_token, enroll = claim(base, f"{work}/node.log", PASSWORD)

        worker = subprocess.Popen(
            [f"{BIN}/openseer-worker", "--server", base, "--region", "bench", "--enroll-token", enroll,
             "--state-dir", f"{work}/worker", "--concurrency", "1024"],
            stdout=open(f"{work}/worker.log", "w"), stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )
        procs.append(worker)

        db = sqlite3.connect(f"file:{work}/data/openseer.db?mode=ro", uri=True)
        created = 0
        best = 0
        for n in STEPS:
            while created < n:
                create_monitor(base, api_token, f"m{created}", target, ["bench"])
                created += 1
            time.sleep(3)  # every monitor has ticked a few times
            t0 = time.time() * 1000
            c0 = (cpu_seconds(node.pid), cpu_seconds(worker.pid))
            time.sleep(WINDOW)
            t1 = time.time() * 1000
            c1 = (cpu_seconds(node.pid), cpu_seconds(worker.pid))
            time.sleep(2)  # results of the window's last ticks arrive
            rows = db.execute(
                "SELECT outcome, started_at - scheduled_at FROM results_raw WHERE scheduled_at >= ? AND scheduled_at < ?",
                (int(t0), int(t1)),
            ).fetchall()
            checks = [r for r in rows if r[0] != "missed"]
            missed = len(rows) - len(checks)
            lateness = [r[1] for r in checks]
            rate = len(checks) / ((t1 - t0) / 1000)
            p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
            per_k = 1000 / max(len(checks), 1)
            expected = n * (t1 - t0) / 1000
            figure(f"dispatch_n{n}_checks_per_second", f"{rate:.1f}", "checks/s")
            figure(f"dispatch_n{n}_stored_fraction", f"{len(checks) / expected:.4f}", "ratio")
            figure(f"dispatch_n{n}_missed", missed, "checks")
            figure(f"dispatch_n{n}_lateness_p50", f"{p50:.1f}", "ms")
            figure(f"dispatch_n{n}_lateness_p99", f"{p99:.1f}", "ms")
            figure(f"dispatch_n{n}_node_cpu_per_1000_checks", f"{(c1[0] - c0[0]) * per_k:.3f}", "s")
            figure(f"dispatch_n{n}_worker_cpu_per_1000_checks", f"{(c1[1] - c0[1]) * per_k:.3f}", "s")
            figure(f"dispatch_n{n}_node_rss", f"{rss_mib(node.pid):.1f}", "MiB")
            figure(f"dispatch_n{n}_worker_rss", f"{rss_mib(worker.pid):.1f}", "MiB")
            holds = p99 < 250 and len(checks) >= 0.99 * expected
            if not holds:
                break
            best = n
        figure("dispatch_max_monitors_p99_under_250ms", best, "monitors")
    finally:
        stop_all(procs)
        if os.environ.get("KEEP"):
            print(f"# kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
