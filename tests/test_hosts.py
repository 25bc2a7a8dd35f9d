"""Two web hosts on one Redis behind nginx with sticky sessions, as a franchise past one machine
runs them.

Each host is a network namespace of its own with a veth link to this one, made by the test
(root and `ip` needed). Where namespaces cannot be made, the test says so and runs the same
checks with each host on a loopback address of its own (127.0.0.2, 127.0.0.3).
"""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from devtools.redis_server import free_port, redis_command, start_redis, wait_for_redis

from .conftest import (
    ROOT,
    FrappeHTTP,
    crash,
    dashboard_env,
    start_bridge,
    start_frappe_sim,
    stop,
    web_login,
)
from .test_browser import log_in, submit
from .test_failover import poll
from .test_live import LiveClient
from .test_tv import csrf_of

pytestmark = pytest.mark.slow

OUTLET = "OUTLET-001"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

SHIPPED_NGINX = ROOT / "deploy" / "nginx" / "franchise-dashboard.conf"
# The shipped site inside a minimal nginx.conf of the test's own (paths in its temporary dir).
NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    include {site};
}}
"""


def shipped_site(servers: list[str], port: int) -> str:
    """deploy/nginx/franchise-dashboard.conf with the test's hosts and port, and a header saying
    which host answered; nothing else changed."""
    site = SHIPPED_NGINX.read_text()
    site, found = re.subn(r"(?m)^    server 127\.0\.0\.1:500\d;.*\n", "", site)
    assert found == 2, "the shipped upstream's server lines moved: update this test"
    lines = "".join(f"    server {server};\n" for server in servers)
    sticky = "    hash $cookie_fd_session$cookie_fd_display consistent;\n"
    assert sticky in site
    site = site.replace(sticky, sticky + lines)
    assert "    listen 80;\n" in site
    return site.replace(
        "    listen 80;\n",
        f"    listen 127.0.0.1:{port};\n    add_header X-Upstream $upstream_addr always;\n",
    )


@dataclass
class Host:
    address: str  # where its web process listens
    gateway: str  # where it reaches this machine (our Redis, the demo Frappe)
    namespace: str | None = None

    def command(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv] if self.namespace else argv


def make_hosts(count: int) -> tuple[list[Host], str]:
    """`count` hosts in network namespaces, else on loopback addresses (and why)."""
    tag = uuid.uuid4().hex[:6]
    hosts = []
    try:
        for i in range(1, count + 1):
            namespace, outer, inner = f"fd{tag}{i}", f"fd{tag}{i}o", f"fd{tag}{i}i"
            subnet = f"10.231.{int(tag[:2], 16) % 100 * 2 + i}"
            run("ip", "netns", "add", namespace)
            hosts.append(Host(f"{subnet}.2", f"{subnet}.1", namespace))
            run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            run("ip", "link", "set", inner, "netns", namespace)
            run("ip", "addr", "add", f"{subnet}.1/24", "dev", outer)
            run("ip", "link", "set", outer, "up")
            inside = ["ip", "netns", "exec", namespace]
            run(*inside, "ip", "addr", "add", f"{subnet}.2/24", "dev", inner)
            run(*inside, "ip", "link", "set", inner, "up")
            run(*inside, "ip", "link", "set", "lo", "up")
        return hosts, ""
    except (OSError, subprocess.CalledProcessError) as error:
        remove_hosts(hosts)
        loopback = [Host(f"127.0.0.{i + 1}", "127.0.0.1") for i in range(1, count + 1)]
        return loopback, f"network namespaces cannot be made here ({error}): loopback instead"


def remove_hosts(hosts: list[Host]) -> None:
    for host in hosts:
        if host.namespace:  # its end of the link goes with it, and so the other end
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)


def run(*argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=10)


class TwoHosts:
    """Our Redis, a demo Frappe, one web process on each host, the bridge, nginx in front."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.processes = []
        self.hosts, self.fallback = make_hosts(2)

    def start(self):
        if self.fallback:
            print(f"\n{self.fallback}")
        gateways = sorted({"127.0.0.1", *(host.gateway for host in self.hosts)})
        redis_port = free_port()
        command = redis_command(redis_port, self.tmp / "redis")
        bind = command.index("--bind")
        command[bind : bind + 2] = ["--bind", *gateways, "--protected-mode", "no"]
        self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        wait_for_redis(f"redis://127.0.0.1:{redis_port}/0", 10, self.processes[-1])
        frappe_redis_port = free_port()
        self.processes.append(start_redis(frappe_redis_port, self.tmp / "frappe-redis"))
        frappe_redis_url = f"redis://127.0.0.1:{frappe_redis_port}/0"
        self.frappe_url, frappe = start_frappe_sim(frappe_redis_url, "--host", "0.0.0.0")
        self.processes.append(frappe)
        frappe_port = self.frappe_url.rsplit(":", 1)[1]
        self.web_port = free_port()
        self.webs = {}
        for host in self.hosts:
            self.webs[host.address] = self.start_web(
                host, f"http://{host.gateway}:{frappe_port}",
                f"redis://{host.gateway}:{redis_port}/0",
            )  # fmt: skip
        self.bridge = start_bridge(self.frappe_url, f"redis://127.0.0.1:{redis_port}/0",
                                   frappe_redis_url)  # fmt: skip
        self.processes.append(self.bridge)
        self.url = self.start_nginx()
        return self

    def start_web(self, host: Host, frappe_url: str, redis_url: str) -> subprocess.Popen:
        settings = dashboard_env(frappe_url, redis_url, SOCKETIO_ASYNC_MODE="gevent",
                                 PROXY_HOPS="1", LOGIN_LIMIT_PER_ADDRESS="1000 per minute",
                                 LOGIN_LIMIT_PER_USER="1000 per minute")  # fmt: skip
        env = {**os.environ, **settings}
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        listen = f"{host.address}:{self.web_port}"
        command = host.command([gunicorn, "-k", "gevent", "-w", "1", "-b", listen,
                                "dashboard:create_app()"])  # fmt: skip
        web = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        self.processes.append(web)
        self.wait(lambda: self.ask(host, "/healthz") in (200, 503), f"web on {host.address}")
        return web

    def ask(self, host: Host, path: str) -> int:
        """A status code from `host` itself, asked from inside it."""
        url = f"http://{host.address}:{self.web_port}{path}"
        probe = host.command(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        answer = subprocess.run(probe, capture_output=True, text=True, timeout=10)
        return int(answer.stdout or 0)

    def start_nginx(self) -> str:
        port = free_port()
        site = self.tmp / "franchise-dashboard.conf"
        site.write_text(shipped_site([f"{h.address}:{self.web_port}" for h in self.hosts], port))
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, site=site))
        nginx = subprocess.Popen([NGINX, "-p", str(self.tmp), "-c", str(conf), "-g",
                                  "daemon off;"], stderr=subprocess.DEVNULL)  # fmt: skip
        self.processes.append(nginx)
        url = f"http://127.0.0.1:{port}"
        self.wait(lambda: requests.get(url + "/healthz", timeout=2).ok, "nginx and both hosts")
        return url

    def wait(self, check, what, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(requests.RequestException, ValueError):
                if check():
                    return
            assert time.monotonic() < deadline, f"{what} not up in {timeout} s"
            time.sleep(0.1)

    def close(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                stop(process)
        remove_hosts(self.hosts)


@pytest.fixture
def two_hosts(tmp_path):
    if not (Path(NGINX).exists() and shutil.which("curl")):
        pytest.skip("nginx and curl are needed: apt-get install nginx-light curl")
    stack = TwoHosts(tmp_path)
    try:
        yield stack.start()
    finally:
        stack.close()


def host_of(http: requests.Session, url: str) -> str:
    """The host that serves this session behind nginx."""
    return http.get(url + "/healthz", timeout=5).headers["X-Upstream"].rsplit(":", 1)[0]


def one_session_per_host(url: str, hosts: list[Host]) -> dict[str, requests.Session]:
    """Managers logged in until each host serves one of them (sticky by session cookie)."""
    found = {}
    for _ in range(40):
        http = web_login(url, "Administrator", "admin")
        found.setdefault(host_of(http, url), http)
        if len(found) == len(hosts):
            return found
    raise AssertionError(f"40 logins all landed on {list(found)}")


def test_two_hosts_share_sales_logouts_and_each_others_browsers(browser, two_hosts):
    url, hosts = two_hosts.url, two_hosts.hosts
    sessions = one_session_per_host(url, hosts)
    clients = {host: LiveClient(url, http) for host, http in sessions.items()}
    frappe = FrappeHTTP(two_hosts.frappe_url)
    try:
        for client in clients.values():
            assert client.subscribe(OUTLET)["ok"]
        # A sale reaches browsers on both hosts.
        invoice = submit(frappe, OUTLET, [{"item_code": "COFFEE-02", "qty": 1}])
        for client in clients.values():
            client.wait_for(lambda e, d: e == "live_pos_sale" and d["invoice"] == invoice)

        # A logout on one host closes that session's sockets on the other.
        (first, http), (other, _) = sessions.items()
        direct = LiveClient(f"http://{other}:{two_hosts.web_port}", http)
        assert direct.subscribe(OUTLET)["ok"]
        token = csrf_of(http, url + "/")
        assert http.post(url + "/logout", data={"csrf_token": token}, timeout=10).ok
        direct.wait_for(lambda e, d: e == "session_expired" and d["reason"] == "logged_out")
        poll(lambda: not direct.sio.connected, 5)  # the other host closes the socket
    finally:
        for client in clients.values():
            with contextlib.suppress(Exception):
                client.close()

    # A browser moves to the other host when its host's web process dies, missing nothing.
    page = log_in(browser.new_context().new_page(), url, "Administrator", "admin")
    response = page.goto(f"{url}/outlets/{OUTLET}")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    serving = response.headers["x-upstream"].rsplit(":", 1)[0]
    crash(two_hosts.webs[serving])
    moved = time.monotonic()
    missed = [submit(frappe, OUTLET, [{"item_code": "TEA-01", "qty": 1}]) for _ in range(3)]
    for sale in missed:
        expect(page.locator(f'li.sale[data-invoice="{sale}"]')).to_have_count(1, timeout=30_000)
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=15_000)
    caught_up = time.monotonic() - moved
    assert "/login" not in page.url
    now_on = page.request.get(f"{url}/healthz").headers["x-upstream"].rsplit(":", 1)[0]
    assert now_on != serving
    where = "network namespaces" if not two_hosts.fallback else "loopback addresses"
    print(f"\ntwo hosts ({where}): a browser whose host died was live on the other with "
          f"every sale made meanwhile {caught_up:.1f} s later")  # fmt: skip
