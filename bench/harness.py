"""What every benchmark needs: the whole stack on 127.0.0.1, load from separate processes,
process CPU and memory sampling, and the machine's description. Nothing here leaves this host.
"""

import json
import os
import platform
import re
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
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Stack:
    """Our Redis, a Redis for Frappe, the demo Frappe, one web process and the bridge."""

    def __init__(self, mode: str, tmp: Path, outlets: int = 500, **settings):
        self.mode, self.tmp, self.settings, self.outlets = mode, tmp, settings, outlets
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
        frappe_port, web_port = free_port(), free_port()
        self.frappe_url = f"http://127.0.0.1:{frappe_port}"
        self.web_url = f"http://127.0.0.1:{web_port}"
        self.spawn([PYTHON, "-m", "frappe_sim", "--port", str(frappe_port), "--site", SITE,
                    "--redis-url", self.frappe_redis_url,
                    "--extra-outlets", str(self.outlets)])  # fmt: skip
        wait_until(
            lambda: requests.get(self.frappe_url + "/", timeout=1).status_code == 404,
            what="demo Frappe",
        )
        env = self.env()
        self.web = self.spawn(
            [str(BIN / "gunicorn"), *WORKERS[self.mode], "-w", "1", "-b",
             f"127.0.0.1:{web_port}", "--log-level", "warning", "dashboard:create_app()"],
            env,
        )  # fmt: skip
        # 503 until the bridge beats: up is up.
        wait_until(
            lambda: requests.get(self.web_url + "/healthz", timeout=1).status_code in (200, 503),
            what="web",
        )
        self.spawn([PYTHON, "-m", "dashboard.bridge"], env)
        beat = redis.Redis.from_url(self.redis_url)
        wait_until(lambda: beat.exists("bridge:heartbeat"), what="bridge")
        return self

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
            "PYTHONWARNINGS": "ignore",
            **self.settings,
        }

    def spawn(self, command, env=None) -> subprocess.Popen:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.processes.append(process)
        return process

    def web_worker(self) -> psutil.Process:
        children = psutil.Process(self.web.pid).children()
        return children[0] if children else psutil.Process(self.web.pid)

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
    """CPU seconds and peak resident memory of one process while a load runs."""

    def __init__(self, process: psutil.Process):
        super().__init__(daemon=True)
        self.process, self.peak_rss, self.done = process, 0, threading.Event()
        times = process.cpu_times()
        self.cpu_start = times.user + times.system

    def run(self):
        while not self.done.wait(0.2):
            try:
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            except psutil.Error:
                return  # the server died: the run reports what it saw

    def finish(self) -> dict:
        self.done.set()
        self.join()
        try:
            times = self.process.cpu_times()
            rss = self.process.memory_info().rss
        except psutil.Error:
            return {"cpu_s": None, "peak_rss_mb": None, "server_died": True}
        return {
            "cpu_s": round(times.user + times.system - self.cpu_start, 2),
            "peak_rss_mb": round(max(self.peak_rss, rss) / 2**20, 1),
        }


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
