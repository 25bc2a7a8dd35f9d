"""What every benchmark needs: the whole stack on 127.0.0.1, load from separate processes,
process CPU and memory sampling, and the machine's description. Nothing here leaves this host.
"""

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import psutil
import redis
import requests

from devtools.redis_server import free_port, start_redis

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SITE = "bench.localhost"
PYTHON = sys.executable
BIN = Path(sys.executable).parent

# The gunicorn worker class that matches each Flask-SocketIO async mode.
WORKERS = {
    "eventlet": ["-k", "eventlet", "--worker-connections", "20000"],
    "gevent": ["-k", "gevent", "--worker-connections", "20000"],
    "threading": ["-k", "gthread", "--threads", "6000", "--worker-connections", "20000"],
}


def wait_until(check, timeout=60.0, what="a service"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, redis.RedisError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not come up within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """Stop a process and, when it leads its own group (spawn's do), everything it started:
    a gunicorn master killed alone leaves its worker running, and skewing the next run."""
    group = getattr(process, "own_group", False)
    signal_to = (lambda sig: os.killpg(process.pid, sig)) if group else process.send_signal
    if process.poll() is None:
        signal_to(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            signal_to(signal.SIGKILL)
            process.wait()
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # a worker that outlived its master


NGINX = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    # Sticky by the whole client address: ip_hash would put all of 127.0.0.x on one process.
    upstream web {{ hash $remote_addr consistent; {servers} keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
        location /socket.io/ {{
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_read_timeout 3600s;
        }}
    }}
}}
"""


class Stack:
    """Our Redis, a Redis for Frappe, the demo Frappe, the web process(es) and the bridge.

    With `web_processes` > 1, that many gunicorns share our Redis behind nginx with sticky
    sessions, as the README's deployment section describes.
    """

    def __init__(self, mode: str, tmp: Path, outlets: int = 500, web_processes=1, **settings):
        self.mode, self.tmp, self.settings, self.outlets = mode, tmp, settings, outlets
        self.web_processes = web_processes
        self.processes: list[subprocess.Popen] = []

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.__exit__(None, None, None)  # no orphans when a part fails to come up
            raise

    def start(self):
        ours, theirs = free_port(), free_port()
        self.processes.append(start_redis(ours, self.tmp / "ours"))
        self.processes.append(start_redis(theirs, self.tmp / "theirs"))
        self.redis_url = f"redis://127.0.0.1:{ours}/0"
        self.frappe_redis_url = f"redis://127.0.0.1:{theirs}/0"
        frappe_port = free_port()
        self.frappe_url = f"http://127.0.0.1:{frappe_port}"
        self.spawn([PYTHON, "-m", "frappe_sim", "--port", str(frappe_port), "--site", SITE,
                    "--redis-url", self.frappe_redis_url,
                    "--extra-outlets", str(self.outlets)])  # fmt: skip
        wait_until(
            lambda: requests.get(self.frappe_url + "/", timeout=1).status_code == 404,
            what="demo Frappe",
        )
        env = self.env()
        ports = [free_port() for _ in range(self.web_processes)]
        self.webs = [self.start_web(port, env) for port in ports]
        if self.web_processes > 1:
            self.web_url = self.start_nginx(ports)
        else:
            self.web_url = f"http://127.0.0.1:{ports[0]}"
        self.spawn([PYTHON, "-m", "dashboard.bridge"], env)
        beat = redis.Redis.from_url(self.redis_url)
        wait_until(lambda: beat.exists("bridge:heartbeat"), what="bridge")
        return self

    def start_web(self, port: int, env: dict) -> subprocess.Popen:
        web = self.spawn(
            [str(BIN / "gunicorn"), *WORKERS[self.mode], "-w", "1", "-b", f"127.0.0.1:{port}",
             "--log-level", "warning", "dashboard:create_app()"],
            env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        # 503 until the bridge beats: up is up.
        wait_until(
            lambda: requests.get(url + "/healthz", timeout=1).status_code in (200, 503), what="web"
        )
        return web

    def start_nginx(self, ports: list[int]) -> str:
        if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
            raise SystemExit("nginx is needed for --web-processes > 1: apt-get install nginx-light")
        port = free_port()
        servers = " ".join(f"server 127.0.0.1:{p};" for p in ports)
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX.format(tmp=self.tmp, servers=servers, port=port))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.spawn([nginx, "-p", str(self.tmp), "-c", str(conf), "-g", "daemon off;"])
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(url + "/healthz", timeout=1).ok is not None, what="nginx")
        return url

    def env(self) -> dict:
        return {
            **os.environ,
            "DASHBOARD_DEMO": "1",
            "FRAPPE_URL": self.frappe_url,
            "FRAPPE_SITE": SITE,
            "REDIS_URL": self.redis_url,
            "FRAPPE_REDIS_URL": self.frappe_redis_url,
            "FRAPPE_API_KEY": "demo_api_key",
            "FRAPPE_API_SECRET": "demo_api_secret",
            "SOCKETIO_ASYNC_MODE": self.mode,
            "LOG_LEVEL": "WARNING",
            "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
            "LOCATOR_RATE_LIMIT": "1000000 per minute",
            # Thousands of load clients share a few sessions and loopback addresses.
            "SOCKETS_PER_SESSION": "1000000",
            "SOCKETS_PER_ADDRESS": "1000000",
            "SUBSCRIBES_PER_USER": "1000000 per minute",
            "SUBSCRIBES_PER_ADDRESS": "1000000 per minute",
            "PYTHONWARNINGS": "ignore",
            **self.settings,
        }

    def spawn(self, command, env=None) -> subprocess.Popen:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        process.own_group = True
        self.processes.append(process)
        return process

    def web_workers(self) -> list[psutil.Process]:
        """The processes that serve requests: each gunicorn's worker."""
        workers = []
        for web in self.webs:
            children = psutil.Process(web.pid).children()
            workers.append(children[0] if children else psutil.Process(web.pid))
        return workers

    def frappe_calls(self) -> dict:
        response = requests.get(
            self.frappe_url + "/api/method/frappe_sim.call_counts",
            headers={
                "X-Frappe-Site-Name": SITE,
                "Authorization": "token demo_api_key:demo_api_secret",
            },
            timeout=10,
        )
        return response.json()["message"]

    def frappe_requests(self) -> int:
        """Requests Frappe has answered: the demo Frappe also counts some again by outlet
        ("...?outlet=X") and by API key ("... (token)"), which must not be added twice."""
        calls = self.frappe_calls()
        return sum(n for name, n in calls.items() if "?" not in name and "(token)" not in name)

    def __exit__(self, *exc):
        for process in reversed(self.processes):
            stop(process)


def login_cookie(web_url: str, usr="Administrator", pwd="admin") -> str:
    http = requests.Session()
    page = http.get(web_url + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = http.post(
        web_url + "/login", data={"csrf_token": token, "usr": usr, "pwd": pwd}, timeout=10
    )
    response.raise_for_status()
    return f"fd_session={http.cookies['fd_session']}"


class Sampler(threading.Thread):
    """CPU seconds and peak resident memory of the server's processes while a load runs."""

    def __init__(self, processes: list[psutil.Process]):
        super().__init__(daemon=True)
        self.processes, self.peak_rss, self.done = processes, 0, threading.Event()
        self.cpu_start = cpu_seconds(processes)

    def run(self):
        while not self.done.wait(0.2):
            try:
                self.peak_rss = max(self.peak_rss, rss(self.processes))
            except psutil.Error:
                return  # the server died: the run reports what it saw

    def finish(self) -> dict:
        self.done.set()
        self.join()
        try:
            cpu, now = cpu_seconds(self.processes), rss(self.processes)
        except psutil.Error:
            return {"cpu_s": None, "peak_rss_mb": None, "server_died": True}
        return {
            "cpu_s": round(cpu - self.cpu_start, 2),
            "peak_rss_mb": round(max(self.peak_rss, now) / 2**20, 1),
        }


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def rss(processes: list[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in processes)


def publish_sales(frappe_redis_url: str, outlets: list[str], rate: float, seconds: float) -> list:
    """Frappe-format live_pos_sale messages on Frappe's channel at `rate`/s; the outlets used."""
    client = redis.Redis.from_url(frappe_redis_url)
    sent, start = [], time.monotonic()
    total = int(rate * seconds)
    for seq in range(total):
        due = start + seq / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        outlet = outlets[seq % len(outlets)]
        message = {
            "event": "live_pos_sale",
            "message": {
                "outlet": outlet,
                "invoice": f"B-{time.time_ns()}-{seq}",
                "grand_total": 180.0,
                "items": [{"item": "Cappuccino", "qty": 1, "amount": 180.0}],
                "timestamp": "2026-11-23 9:00:00.000001",
            },
            "namespace": SITE,
            "room": "all",
        }
        client.publish("events", json.dumps(message, sort_keys=True, indent=1))
        sent.append(outlet)
    return sent


def machine() -> dict:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    packages = ["flask-socketio", "python-socketio", "python-engineio", "eventlet", "gevent",
                "gunicorn", "redis"]  # fmt: skip
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "node": node,
        "packages": {name: metadata.version(name) for name in packages},
    }


def summarise(runs: list[dict], keys: list[str]) -> dict:
    """Median with min and max of each key over the runs."""
    out = {}
    for key in keys:
        values = [run[key] for run in runs if run.get(key) is not None]
        if values:
            out[key] = (statistics.median(values), min(values), max(values))
    return out


def cell(triple, digits=1) -> str:
    if triple is None:
        return "–"
    median, low, high = triple
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=1))
    return path
