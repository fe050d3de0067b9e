"""Helpers shared by the benchmarks in ops/bench: processes, a cookie
browser for the dashboard's forms, figures. Stdlib only."""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request


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



def start_nginx(work, down_file=None):
    """A local target answering 200 to everything (500 while `down_file`
    exists, when given); returns (process, url)."""
    port = free_port()
    switch = f'if (-f {down_file}) {{ return 500 "down\\n"; }}' if down_file else ""
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
  server {{ listen 127.0.0.1:{port}; location / {{ {switch} return 200 "ok\\n"; }} }}
}}
""")
    proc = subprocess.Popen(["nginx", "-p", f"{work}/nginx", "-c", f"{work}/nginx/nginx.conf", "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}/health"
    wait_http(url)
    return proc, url


def claim(base, log_path, password):
    """Claims a fresh instance with the setup link its log printed; returns
    the signed-in browser, a user API token and a worker enrollment token."""
    setup = None
    for _ in range(100):
        m = re.search(r"setup\?token=(osts_[0-9a-f]{64})", open(log_path).read())
        if m:
            setup = m.group(1)
            break
        time.sleep(0.1)
    b = Browser(base)
    page = b.get(f"/setup?token={setup}")
    status, _ = b.post("/setup", {"_csrf": csrf(page), "token": setup, "org_name": "Bench", "name": "B",
                                  "email": "bench@example.com", "password": password})
    assert status == 303, status
    _, page = b.post("/settings/tokens", {"_csrf": csrf(b.get("/settings/tokens")), "name": "bench", "scope": "write"})
    api_token = re.search(r"ostu_[0-9a-f]{64}", page).group(0)
    _, page = b.post("/workers/enrollment-tokens", {"_csrf": csrf(b.get("/workers")), "name": "bench"})
    enroll = re.search(r"ostc_[0-9a-f]{64}", page).group(0)
    return b, api_token, enroll


def create_monitor(base, api_token, name, target, regions):
    body = json.dumps({"name": name, "url": target, "interval_seconds": 1,
                       "timeout_ms": 1000, "regions": regions}).encode()
    req = urllib.request.Request(base + "/api/v1/monitors", body, method="POST",
                                 headers={"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def stop_all(procs):
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
