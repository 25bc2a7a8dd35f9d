"""Real parts for the tests: a private Redis, the demo Frappe over HTTP, the web app."""

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests

from dashboard import config, create_app
from devtools.redis_server import free_port, redis_command, start_redis, wait_for_redis

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples" / "frappe-v15"
SITE = "demo.localhost"
API_KEY, API_SECRET = "demo_api_key", "demo_api_secret"


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.05)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        crash(process)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    port = free_port()
    process = start_redis(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    stop(process)


@pytest.fixture(scope="session")
def frappe_redis_url(redis_url):
    """Where the demo Frappe publishes its realtime events (Frappe's redis_queue)."""
    return redis_url.rsplit("/", 1)[0] + "/1"


def start_frappe_sim(redis_url: str | None, *extra: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    command = [sys.executable, "-m", "frappe_sim", "--port", str(port), "--site", SITE]
    if redis_url:
        command += ["--redis-url", redis_url]
    process = subprocess.Popen([*command, *extra], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/", process)
    return url, process


@pytest.fixture(scope="session")
def frappe_url(frappe_redis_url):
    url, process = start_frappe_sim(frappe_redis_url)
    yield url
    stop(process)


class FrappeHTTP:
    """Plain HTTP to the demo Frappe, as any outside client would send it."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def request(self, method, path, headers=None, **kwargs):
        headers = {"Accept": "application/json", "X-Frappe-Site-Name": SITE, **(headers or {})}
        return requests.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)

    def login(self, usr, pwd, ip="192.0.2.1"):
        return self.request(
            "POST",
            "/api/method/login",
            json={"usr": usr, "pwd": pwd},
            headers={"X-Forwarded-For": ip},
        )

    def sid(self, usr, pwd) -> str:
        response = self.login(usr, pwd)
        assert response.status_code == 200, response.text
        return response.cookies["sid"]

    def as_service(self, method, path, **kwargs):
        token = {"Authorization": f"token {API_KEY}:{API_SECRET}"}
        return self.request(method, path, headers=token, **kwargs)


@pytest.fixture(scope="session")
def frappe_http(frappe_url):
    return FrappeHTTP(frappe_url)


def dashboard_env(frappe_url: str, redis_url: str, **overrides) -> dict:
    env = {
        "DASHBOARD_DEMO": "1",
        "FRAPPE_URL": frappe_url,
        "FRAPPE_SITE": SITE,
        "REDIS_URL": redis_url,
        "FRAPPE_API_KEY": API_KEY,
        "FRAPPE_API_SECRET": API_SECRET,
        "SOCKETIO_ASYNC_MODE": "threading",
        "FRAPPE_READ_TIMEOUT": "5",
        # Map tiles from a closed local port: tests never reach out to the internet.
        "TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",
    }
    env.update(overrides)
    return env


@pytest.fixture
def make_app(frappe_url, redis_url):
    redis.Redis.from_url(redis_url).flushdb()  # sessions and throttles start empty

    def make(**overrides):
        settings = config.load(dashboard_env(frappe_url, redis_url, **overrides))
        app = create_app(settings)
        app.testing = True
        return app

    return make


@pytest.fixture
def app(make_app):
    return make_app()


_addresses = itertools.count(1)


def unique_address() -> str:
    # TEST-NET-2 addresses: only ever a header value sent to the demo Frappe, never a target.
    n = next(_addresses)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = unique_address()
    return client


def csrf_token(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, usr="manager1@example.com", pwd="manager1", next_url="", **extra):
    form = {"csrf_token": csrf_token(client), "usr": usr, "pwd": pwd, "next": next_url, **extra}
    return client.post("/login", data=form)


def start_web(
    frappe_url: str,
    redis_url: str,
    port: int | None = None,
    mode: str = "gevent",
    log=None,
    **overrides,
) -> tuple[str, subprocess.Popen]:
    """The web app as the Procfile runs it: gunicorn with the gevent (or eventlet) worker;
    its log to the file `log` if given."""
    port = port or free_port()
    settings = dashboard_env(frappe_url, redis_url, SOCKETIO_ASYNC_MODE=mode, **overrides)
    env = {**os.environ, **settings}
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    # A short grace at stop: browsers still connected would hold a test for 30 s.
    command = [gunicorn, "-k", mode, "-w", "1", "-b", f"127.0.0.1:{port}",
               "--graceful-timeout", "2"]  # fmt: skip
    process = subprocess.Popen(
        [*command, "dashboard:create_app()"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/healthz", process)
    return url, process


def crash(process: subprocess.Popen) -> None:
    """Kill a process (and its children, when it leads its own group), as a crash would."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    process.wait()


@pytest.fixture(scope="session")
def web_server(frappe_url, redis_url):
    url, process = start_web(frappe_url, redis_url)
    yield url
    stop(process)


def start_bridge(frappe_url: str, redis_url: str, frappe_redis_url: str, log=None, **overrides):
    """A bridge process; with the Redis source, returns once it listens on Frappe's channel;
    its log to the file `log` if given."""
    env = {
        **os.environ,
        **dashboard_env(frappe_url, redis_url, FRAPPE_REDIS_URL=frappe_redis_url, **overrides),
    }
    source = redis.Redis.from_url(frappe_redis_url)
    listeners = dict(source.pubsub_numsub("events"))[b"events"]
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard.bridge"], cwd=ROOT, env=env, stderr=log
    )
    deadline = time.monotonic() + 20
    while overrides.get("FRAPPE_REALTIME") != "socketio":
        if dict(source.pubsub_numsub("events"))[b"events"] > listeners:
            break
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the bridge did not start")
        time.sleep(0.05)
    return process


@pytest.fixture(scope="session")
def bridge(frappe_url, redis_url, frappe_redis_url):
    process = start_bridge(frappe_url, redis_url, frappe_redis_url)
    yield process
    stop(process)


def web_login(web_url: str, usr: str, pwd: str) -> requests.Session:
    """A requests session logged in to the dashboard through its form."""
    http = requests.Session()
    page = http.get(web_url + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = http.post(
        web_url + "/login",
        data={"csrf_token": token, "usr": usr, "pwd": pwd, "next": "/"},
        timeout=10,
    )
    assert response.ok and response.url.endswith("/"), response.text[:300]
    return http


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


class Stack:
    """Our Redis, one web process (gunicorn + gevent) and the bridge, restartable one by one."""

    def __init__(self, tmp_path, frappe_url, frappe_redis_url, keep_redis_data=True,
                 bridge_settings=None, **settings):  # fmt: skip
        self.tmp, self.frappe_url, self.frappe_redis_url = tmp_path, frappe_url, frappe_redis_url
        self.keep, self.settings = keep_redis_data, settings
        self.bridge_settings = bridge_settings or {}
        self.redis_port, self.web_port = free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.redis = self.bridge = self.web = None

    def start(self):
        self.start_redis()
        self.start_web()
        self.start_bridge()
        return self

    def start_redis(self):
        command = redis_command(self.redis_port, self.tmp / "redis")
        if self.keep:  # written through on every change: a crash loses nothing
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        self.redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_redis(self.redis_url, 10, self.redis)

    def start_web(self):
        self.web_url, self.web = start_web(
            self.frappe_url, self.redis_url, port=self.web_port, **self.settings
        )

    def start_bridge(self):
        self.bridge = start_bridge(
            self.frappe_url, self.redis_url, self.frappe_redis_url, **self.bridge_settings
        )

    def close(self):
        for process in (self.bridge, self.web, self.redis):
            if process is not None and process.poll() is None:
                stop(process)


@pytest.fixture
def make_stack(tmp_path, frappe_url, frappe_redis_url):
    stacks = []

    def make(on_frappe=None, frappe_redis=None, **options):
        """A stack on the session's demo Frappe, or on `on_frappe` publishing to `frappe_redis`."""
        where = tmp_path / str(len(stacks))
        stack = Stack(where, on_frappe or frappe_url, frappe_redis or frappe_redis_url, **options)
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        stack.close()
