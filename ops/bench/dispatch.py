"""ops/bench.sh dispatch: how many 1-second monitors one node and one worker hold.

Starts nginx (the target), `openseer serve` and `openseer-worker` as separate
processes on loopback, claims the instance over HTTP like a browser would,
then raises the number of monitors step by step. For each step it measures,
over a window of ticks: checks per second stored, p50/p99 lateness of check
start against the scheduled tick, CPU seconds of node and worker per 1000
checks, and their RSS. Stdlib only.
"""

import http.cookiejar
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

BIN = sys.argv[1]
STEPS = [int(s) for s in os.environ.get("STEPS", "500 1000 2000 4000 5000 6000 8000").split()]
WINDOW = float(os.environ.get("WINDOW", "10"))
PASSWORD = "benchmark-password-123"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def figure(name, value, unit):
    print(f"{name}: {value} {unit}", flush=True)


def wait_http(url, limit=30):
    end = time.time() + limit
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


class Browser:
    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )

    def get(self, path):
        with self.opener.open(self.base + path) as r:
            return r.read().decode()

    def post(self, path, form):
        data = urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(self.base + path, data) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def csrf(page):
    return re.search(r'name="_csrf" value="([0-9a-f]{64})"', page).group(1)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def main():
    work = tempfile.mkdtemp(prefix="openseer-bench-")
    procs = []
    try:
        nginx_port = free_port()
        os.makedirs(f"{work}/nginx/logs")
        with open(f"{work}/nginx/nginx.conf", "w") as f:
            f.write(f"""
worker_processes 1;
error_log {work}/nginx/logs/error.log;
pid {work}/nginx/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx; proxy_temp_path {work}/nginx; fastcgi_temp_path {work}/nginx;
  uwsgi_temp_path {work}/nginx; scgi_temp_path {work}/nginx;
  server {{ listen 127.0.0.1:{nginx_port}; location / {{ return 200 "ok\\n"; }} }}
}}
""")
        procs.append(subprocess.Popen(["nginx", "-p", f"{work}/nginx", "-c", f"{work}/nginx/nginx.conf", "-g", "daemon off;"]))
        target = f"http://127.0.0.1:{nginx_port}/health"
        wait_http(target)

        node_port = free_port()
        base = f"http://127.0.0.1:{node_port}"
        node_log = open(f"{work}/node.log", "w")
        node = subprocess.Popen(
            [f"{BIN}/openseer", "serve", "--data-dir", f"{work}/data", "--http", f"127.0.0.1:{node_port}"],
            stdout=node_log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )
        procs.append(node)
        wait_http(base + "/healthz")
        setup = None
        for _ in range(50):
            m = re.search(r"setup\?token=(osts_[0-9a-f]{64})", open(f"{work}/node.log").read())
            if m:
                setup = m.group(1)
                break
            time.sleep(0.1)
        b = Browser(base)
        page = b.get(f"/setup?token={setup}")
        status, _ = b.post("/setup", {"_csrf": csrf(page), "token": setup, "org_name": "Bench", "name": "B",
                                      "email": "bench@example.com", "password": PASSWORD})
        assert status == 303, status
        _, page = b.post("/settings/tokens", {"_csrf": csrf(b.get("/settings/tokens")), "name": "bench"})
        api_token = re.search(r"ostu_[0-9a-f]{64}", page).group(0)
        _, page = b.post("/workers/enrollment-tokens", {"_csrf": csrf(b.get("/workers")), "name": "bench"})
        enroll = re.search(r"ostc_[0-9a-f]{64}", page).group(0)

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
                body = json.dumps({"name": f"m{created}", "url": target, "interval_seconds": 1,
                                   "timeout_ms": 1000, "regions": ["bench"]}).encode()
                req = urllib.request.Request(base + "/api/v1/monitors", body, method="POST",
                                             headers={"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"})
                urllib.request.urlopen(req).read()
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
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP"):
            print(f"# kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
