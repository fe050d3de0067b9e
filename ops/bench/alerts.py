"""ops/bench.sh alerts: MONITORS (1000) one-second monitors go down together.

Starts nginx (the target; it answers 500 while a flag file exists),
`openseer serve` on SQLite, one `openseer-worker` and a local webhook
receiver, all on loopback; makes a webhook channel for new monitors through
the dashboard's form, then the monitors. Once every monitor is checked, the
flag is set. Measured: from each incident's first failing tick to its
notification's arrival (p50/p95/max), notifications delivered per second,
and the lateness p99 of checks during the storm; then the same for the
recoveries. Stdlib only.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchlib import claim, cpu_seconds, create_monitor, csrf, figure, free_port, percentile, start_nginx, stop_all, wait_http

BIN = sys.argv[1]
MONITORS = int(os.environ.get("MONITORS", "1000"))
PASSWORD = "quiet harbor lantern benchmark"


class Receiver(BaseHTTPRequestHandler):
    seen = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        at = time.time() * 1000
        with Receiver.lock:
            Receiver.seen.append((at, self.headers.get("webhook-id"), json.loads(body)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def arrivals(kind):
    with Receiver.lock:
        return [(at, wid, b) for at, wid, b in Receiver.seen if b["type"] == kind]


def wait_count(kind, n, limit):
    end = time.time() + limit
    while time.time() < end and len(arrivals(kind)) < n:
        time.sleep(0.2)
    return arrivals(kind)


def report(prefix, got, starts, db, t0, t1):
    delays = [at - starts[b["data"]["incident_id"]] for at, _, b in got if b["data"]["incident_id"] in starts]
    figure(f"alerts_{prefix}_notified", len(got), "notifications")
    figure(f"alerts_{prefix}_duplicates", len(got) - len({wid for _, wid, _ in got}), "notifications")
    figure(f"alerts_{prefix}_delay_p50", f"{percentile(delays, 50):.0f}", "ms")
    figure(f"alerts_{prefix}_delay_p95", f"{percentile(delays, 95):.0f}", "ms")
    figure(f"alerts_{prefix}_delay_max", f"{max(delays) if delays else float('nan'):.0f}", "ms")
    if len(got) > 1:
        span = (max(a for a, _, _ in got) - min(a for a, _, _ in got)) / 1000
        figure(f"alerts_{prefix}_delivered_per_second", f"{len(got) / max(span, 0.001):.0f}", "notifications/s")
    rows = db.execute(
        "SELECT started_at - scheduled_at FROM results_raw WHERE outcome <> 'missed' AND scheduled_at >= ? AND scheduled_at < ?",
        (int(t0), int(t1)),
    ).fetchall()
    figure(f"alerts_{prefix}_check_lateness_p99", f"{percentile([r[0] for r in rows], 99):.1f}", "ms")


def main():
    work = tempfile.mkdtemp(prefix="openseer-bench-")
    flag = f"{work}/down"
    procs = []
    try:
        nginx, target = start_nginx(work, down_file=flag)
        procs.append(nginx)
        hook_port = free_port()
        server = ThreadingHTTPServer(("127.0.0.1", hook_port), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()

        node_port = free_port()
        base = f"http://127.0.0.1:{node_port}"
        node = subprocess.Popen(
            [f"{BIN}/openseer", "serve", "--data-dir", f"{work}/data", "--http", f"127.0.0.1:{node_port}"],
            stdout=open(f"{work}/node.log", "w"), stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )
        procs.append(node)
        wait_http(base + "/healthz")
        browser, api_token, enroll = claim(base, f"{work}/node.log", PASSWORD)
        status, page = browser.post("/channels", {
            "_csrf": csrf(browser.get("/channels")), "kind": "webhook", "name": "bench",
            "url": f"http://127.0.0.1:{hook_port}/hook", "secret": "", "is_default": "on"})
        assert status == 200 and "whsec_" in page, status

        worker = subprocess.Popen(
            [f"{BIN}/openseer-worker", "--server", base, "--region", "bench", "--enroll-token", enroll,
             "--state-dir", f"{work}/worker", "--concurrency", "1024"],
            stdout=open(f"{work}/worker.log", "w"), stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )
        procs.append(worker)
        for i in range(MONITORS):
            create_monitor(base, api_token, f"m{i}", target, ["bench"])
        db = sqlite3.connect(f"file:{work}/data/openseer.db?mode=ro", uri=True)
        end = time.time() + 60
        while time.time() < end:
            checked = db.execute("SELECT COUNT(DISTINCT monitor_id) FROM results_raw WHERE outcome = 'up'").fetchone()[0]
            if checked >= MONITORS:
                break
            time.sleep(0.5)
        time.sleep(2)

        t0 = time.time() * 1000
        c0 = cpu_seconds(node.pid)
        open(flag, "w").close()
        got = wait_count("incident.opened", MONITORS, 60)
        time.sleep(2)
        t1 = time.time() * 1000
        c1 = cpu_seconds(node.pid)
        starts = dict(db.execute("SELECT id, started_at FROM incidents").fetchall())
        report("down", got, starts, db, t0, t1)
        figure("alerts_down_node_cpu", f"{c1 - c0:.2f}", "s")

        t2 = time.time() * 1000
        os.remove(flag)
        got = wait_count("incident.resolved", MONITORS, 60)
        time.sleep(2)
        t3 = time.time() * 1000
        # A recovery's delay counts from its first passing tick: the
        # incident's resolved_at is the tick that confirmed it, one interval
        # later (up after 2).
        ends = {i: r - 1000 for i, r in db.execute("SELECT id, resolved_at FROM incidents WHERE resolved_at IS NOT NULL").fetchall()}
        report("up", got, ends, db, t2, t3)
        server.shutdown()
    finally:
        stop_all(procs)
        if os.environ.get("KEEP"):
            print(f"# kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
